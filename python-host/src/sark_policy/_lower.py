"""Component values built in C layout, for the calls that take lists,
records and variants (`engine.activate-bundle`).

Why not wasmtime-py's public `Func.__call__`: it lowers a `list<u8>` one
element at a time in Python (microseconds per byte: seconds for a
megabyte bundle), and it does so after the deadline is armed. Here a
value is laid out once as `wasmtime_component_val_t` (32 bytes, the kind
in byte 0, the payload from byte 8) pointing into buffers this module
allocates; a `list<u8>` is filled with two slice assignments, at C speed.
`_abi.Bindings.call` copies a `Lowered` value into its argument array
(parameter kind `RAW`) and arms the deadline just before the one FFI call.

The C API only reads arguments (`Val::from(&wasmtime_component_val_t)`
borrows every nested list, record, variant and option; see `_abi`), so
the buffers stay ours and are freed with the `Lowered` value. The C API
still holds one 32-byte value per byte of a `list<u8>` (and wasmtime a
`Val` per byte while it lowers them), so a bundle of N bytes costs about
70 N bytes of host memory for the moment of the call.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Sequence
from typing import Final

from wasmtime import _ffi as ffi

__all__ = ["Lowered", "byte_list", "list_of", "option", "record", "string", "variant"]

_VAL: Final = 32  # sizeof(wasmtime_component_val_t), checked by _abi
_K_U8: Final = ffi.WASMTIME_COMPONENT_U8.value
_K_STRING: Final = ffi.WASMTIME_COMPONENT_STRING.value
_K_LIST: Final = ffi.WASMTIME_COMPONENT_LIST.value
_K_RECORD: Final = ffi.WASMTIME_COMPONENT_RECORD.value
_K_VARIANT: Final = ffi.WASMTIME_COMPONENT_VARIANT.value
_K_OPTION: Final = ffi.WASMTIME_COMPONENT_OPTION.value

if (ffi.wasmtime_component_valvariant_t.val.offset != 16  # type: ignore[attr-defined]
        or ctypes.sizeof(ffi.wasmtime_component_valvariant_t) != 24):  # pragma: no cover
    raise ImportError("unexpected wasmtime_component_valvariant_t layout")

# kind, then (size, pointer) of a string or list, or the entries of a record.
_SIZED = struct.Struct("<B7xQQ8x")
# kind, case name (size, pointer), payload pointer (0: none).
_VARIANT = struct.Struct("<B7xQQQ")
# kind, payload pointer (0: none).
_OPTION = struct.Struct("<B7xQ16x")
_NAME = struct.Struct("<QQ")  # a record entry's name: size, pointer


class Lowered:
    """One component value in C layout (`image`, 32 bytes) and the buffers
    it points into (`keep`): valid while this object lives."""

    __slots__ = ("image", "keep")

    def __init__(self, image: bytes, keep: list[object]) -> None:
        self.image = image
        self.keep = keep


def _buffer(data: bytes | bytearray, keep: list[object]) -> int:
    """The address of a buffer holding `data` (a bytearray is used in
    place), kept alive through `keep`. Never 0, even when empty: the C API
    refuses a null pointer for a non-empty list and Rust a null slice."""
    buf = data if isinstance(data, bytearray) and data else bytearray(data or b"\0")
    view = (ctypes.c_char * len(buf)).from_buffer(buf)
    keep.append(view)  # the view keeps the bytearray exported and alive
    return ctypes.addressof(view)


def string(text: str | bytes) -> Lowered:
    """A `string` (bytes are taken as UTF-8)."""
    data = text.encode() if isinstance(text, str) else text
    keep: list[object] = []
    return Lowered(_SIZED.pack(_K_STRING, len(data), _buffer(data, keep)), keep)


def byte_list(data: bytes) -> Lowered:
    """A `list<u8>`: one `u8` value per byte, laid out in two slice
    assignments."""
    n = len(data)
    buf = bytearray(_VAL * n)
    if n:
        buf[0::_VAL] = bytes((_K_U8,)) * n
        buf[8::_VAL] = data
    keep: list[object] = []
    return Lowered(_SIZED.pack(_K_LIST, n, _buffer(buf, keep)), keep)


def list_of(items: Sequence[Lowered]) -> Lowered:
    """A `list<T>` of lowered values."""
    keep: list[object] = [item.keep for item in items]
    address = _buffer(bytearray(b"".join(item.image for item in items)), keep)
    return Lowered(_SIZED.pack(_K_LIST, len(items), address), keep)


def record(fields: Sequence[tuple[str, Lowered]]) -> Lowered:
    """A `record`: its fields in WIT order, by (kebab-case) name."""
    keep: list[object] = [value.keep for _, value in fields]
    entries = bytearray()
    for name, value in fields:
        raw = name.encode()
        entries += _NAME.pack(len(raw), _buffer(raw, keep)) + value.image
    return Lowered(_SIZED.pack(_K_RECORD, len(fields), _buffer(entries, keep)), keep)


def variant(case: str, payload: Lowered | None) -> Lowered:
    """A `variant` value: its case name and payload (None for a case
    without one)."""
    keep: list[object] = []
    raw = case.encode()
    name = _buffer(raw, keep)
    address = 0
    if payload is not None:
        keep.append(payload.keep)
        address = _buffer(bytearray(payload.image), keep)
    return Lowered(_VARIANT.pack(_K_VARIANT, len(raw), name, address), keep)


def option(payload: Lowered | None) -> Lowered:
    """An `option<T>`: `none` for None."""
    keep: list[object] = []
    address = 0
    if payload is not None:
        keep.append(payload.keep)
        address = _buffer(bytearray(payload.image), keep)
    return Lowered(_OPTION.pack(_K_OPTION, address), keep)
