"""The lean call path into one component instance.

This is the only module that uses wasmtime-py internals, which is why the
package pins `wasmtime==50.0.1` and this module refuses any other version.

Why: `wasmtime.component.Func.__call__` re-reads the function type over FFI
and rebuilds every converter on every call (about 35 us for a cache get,
150 us for a decision). Here each function is resolved once per instance and
checked once per process against the signature it must have (so a changed
WIT fails loudly at load, not with a crash); its argument array and result
slot are allocated once; arguments are packed straight into the C
`wasmtime_component_val_t` layout, strings pointing at the data of Python
`bytes` objects; results are read with `struct` from the returned
pointers. A call is then one FFI crossing (plus one to arm the deadline,
which the sandbox lets consecutive calls share for up to one epoch tick).

Internals used (all of wasmtime-py 50.0.1): `wasmtime._ffi` (the C struct
layouts, kind codes and the shared library handle), `Func._func`,
`Store._context()`, `Managed.ptr()` and `WasmtimeError._from_ptr`.

Memory rules of `wasmtime_component_func_call` that this relies on: the
arguments are only read (copied into Rust values), so they may point into
our own buffers or `bytes` objects and are never freed by the callee; the
result slot is overwritten with `*slot = new` which drops whatever the
slot held, so a slot always holds a valid value (zeroed = `bool false` at
first) and the previous result is freed by the next call, or by `close()`.
Internals of CPython: the data of a `bytes` object lies at a fixed offset
from its `id` (checked at import).
"""

from __future__ import annotations

import ctypes
import struct
import time
from collections.abc import Callable
from ctypes import c_size_t, c_uint64, c_void_p
from importlib.metadata import version
from typing import Any, Final

from wasmtime import Store, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import (
    Bool,
    BorrowType,
    EnumType,
    Func,
    FuncType,
    Instance,
    ListType,
    OptionType,
    OwnType,
    RecordType,
    ResourceAny,
    ResultType,
    String,
    TupleType,
    U8,
    U32,
    U64,
    ValType,
    Variant,
    VariantType,
)

from ._errors import PolicyError, error_from_wit
from ._lower import Lowered

__all__ = ["Bindings", "Trapped", "WASMTIME_VERSION", "render_func_type", "SIGNATURES"]

WASMTIME_VERSION: Final = "50.0.1"

if version("wasmtime") != WASMTIME_VERSION:  # pragma: no cover - guarded by the pin
    raise ImportError(
        f"sark_policy needs wasmtime=={WASMTIME_VERSION} (its call path reads that "
        f"version's internals); found {version('wasmtime')}"
    )

_VAL: Final = 32  # sizeof(wasmtime_component_val_t)
_ENTRY: Final = 48  # sizeof(wasmtime_component_valrecord_entry_t): name + val
if (
    ctypes.sizeof(ffi.wasmtime_component_val_t) != _VAL
    or ctypes.sizeof(ffi.wasmtime_component_valrecord_entry) != _ENTRY
    or ffi.wasmtime_component_val_t.of.offset != 8
):  # pragma: no cover - guarded by the pin
    raise ImportError("unexpected wasmtime_component_val_t layout")

# Value kinds (wasmtime_component_valkind_t).
_K_BOOL: Final = ffi.WASMTIME_COMPONENT_BOOL.value
_K_U32: Final = ffi.WASMTIME_COMPONENT_U32.value
_K_U64: Final = ffi.WASMTIME_COMPONENT_U64.value
_K_STRING: Final = ffi.WASMTIME_COMPONENT_STRING.value
_K_RECORD: Final = ffi.WASMTIME_COMPONENT_RECORD.value
_K_RESOURCE: Final = ffi.WASMTIME_COMPONENT_RESOURCE.value
_K_ENUM: Final = ffi.WASMTIME_COMPONENT_ENUM.value

# Parameter kinds of the functions we call.
# An enum is passed by its case name, laid out as a string. `RAW` takes a
# value laid out by `_lower` (lists, records, variants: rare calls), which
# brings its own kind.
BORROW, STR, U64_, U32_, BOOL_, REQUEST, OPTIONS, ENUM_, RAW = range(9)
_PARAM_KIND = {BORROW: _K_RESOURCE, STR: _K_STRING, U64_: _K_U64, U32_: _K_U32,
               BOOL_: _K_BOOL, REQUEST: _K_RECORD, OPTIONS: _K_RECORD, ENUM_: _K_ENUM,
               RAW: _K_BOOL}
REQUEST_FIELDS: Final = ("user", "action", "resource", "context")
# Record parameters: (field name, field kind) in WIT order. A record
# argument is passed as a tuple of the field values.
_RECORD_FIELDS: Final[dict[int, tuple[tuple[str, int], ...]]] = {
    REQUEST: tuple((name, STR) for name in REQUEST_FIELDS),
    OPTIONS: (("interpreter-only", BOOL_), ("max-instructions", U64_)),
}
# The field names of each record, one C buffer per record kind (entries
# point into it; they live as long as the module).
_FIELD_NAMES: Final = {
    kind: ctypes.create_string_buffer("".join(n for n, _ in fields).encode())
    for kind, fields in _RECORD_FIELDS.items()
}


def _raw(name: str, restype: Any, *argtypes: Any) -> Any:
    """A prototype over the library symbol without wasmtime-py's wrapper or
    argtypes checks. CFUNCTYPE releases the GIL for the call."""
    address = ctypes.cast(getattr(ffi.dll, name), c_void_p).value
    assert address is not None
    return ctypes.CFUNCTYPE(restype, *argtypes)(address)


_now_ns = time.monotonic_ns
# Calls pass the prebuilt ctypes values of `_Fn.cargs`, which ctypes hands
# over as they are: converting six Python ints per call costs about 0.3 us.
_CALL = _raw("wasmtime_component_func_call",
             c_void_p, c_void_p, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t)
_SET_DEADLINE = _raw("wasmtime_context_set_epoch_deadline", None, c_void_p, c_uint64)
_VAL_DELETE = _raw("wasmtime_component_val_delete", None, c_void_p)

# All of memory as bytes: reading a returned pointer is a slice, not a
# ctypes call. Only addresses the callee just returned are ever read.
_MEM: Final = memoryview((ctypes.c_ubyte * (1 << 62)).from_address(0)).cast("B")

_Q = struct.Struct("<Q")
_I = struct.Struct("<I")
_SIZE_PTR = struct.Struct("<QQ")
_TAG_PAYLOAD = struct.Struct("<QQQ")
_RESULT = struct.Struct("<B7x?7xQ")  # kind, is_ok, val*
_unpack_q = _Q.unpack_from
_unpack_size_ptr = _SIZE_PTR.unpack_from
_unpack_result = _RESULT.unpack_from
# From the entries of `logged-decision`: the entries of its `decision`,
# then its `decision-id` (size, pointer).
_LOGGED = struct.Struct("<32xQ8x" "24xQQ8x")
_DECISION = struct.Struct("<16x8xQ16x" "16x8x?23x" "16x8xQQ8x")  # value*, cached, key


def _text(size: int, data: int) -> str:
    """The UTF-8 text of `size` bytes at `data`: a JSON answer. `true` and
    `false`, the commonest answers, without a copy or a decode (valid JSON
    of four bytes starting with `t` can only be `true`, of five with `f`
    only `false`)."""
    if size == 4 and _MEM[data] == 0x74:
        return "true"
    if size == 5 and _MEM[data] == 0x66:
        return "false"
    return str(_MEM[data : data + size], "utf-8")


def _utf8(text: str | bytes) -> bytes:
    """`text` as UTF-8 (bytes are taken as UTF-8 already: JSON encoders
    produce them)."""
    return text if isinstance(text, bytes) else text.encode()


# A string argument points straight at the data of a `bytes` object, which
# CPython keeps inline at a fixed offset (`PyBytes_AS_STRING`): no copy into
# a staging buffer. Checked here once; the caller keeps the object alive
# for the call, and `bytes` never move or change.
_BYTES_AT: Final = bytes.__basicsize__ - 1
_probe_bytes = b"sark-policy"
if ctypes.string_at(id(_probe_bytes) + _BYTES_AT, len(_probe_bytes)) != _probe_bytes:
    raise ImportError("unexpected bytes object layout (sark_policy needs CPython)")


def _addr(b: bytes) -> int:
    """The address of the data of `b` (alive while `b` is referenced)."""
    return id(b) + _BYTES_AT


class Trapped(Exception):
    """The instance trapped or hit its deadline; `message` is wasmtime's.
    Internal: the sandbox turns it into a `SandboxTrapError` subclass after
    recycling the instance."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _trapped(err: int) -> Trapped:
    exc = WasmtimeError._from_ptr(ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t)))
    return Trapped(str(exc))


# ---- lifting: each takes the address of a wasmtime_component_val_t ------

Lift = Callable[[int], Any]


def _string(addr: int) -> str:
    size, data = _SIZE_PTR.unpack_from(_MEM, addr + 8)
    return str(_MEM[data : data + size], "utf-8")


def _u64(addr: int) -> int:
    return int(_Q.unpack_from(_MEM, addr + 8)[0])


# An enum value is its case name, laid out as a string.
_enum = _string


def _u32(addr: int) -> int:
    return int(_I.unpack_from(_MEM, addr + 8)[0])


def _bool(addr: int) -> bool:
    return _MEM[addr + 8] != 0


def _bytes(addr: int) -> bytes:
    """A `list<u8>`: one 32-byte value per byte, the byte at offset 8 of
    each, read with one strided slice (at C speed)."""
    size, data = _SIZE_PTR.unpack_from(_MEM, addr + 8)
    return bytes(_MEM[data + 8 : data + 8 + _VAL * size : _VAL]) if size else b""


def _option(inner: Lift) -> Lift:
    def lift(addr: int) -> Any:
        ptr = _Q.unpack_from(_MEM, addr + 8)[0]
        return inner(ptr) if ptr else None

    return lift


def _list(inner: Lift) -> Lift:
    def lift(addr: int) -> list[Any]:
        size, data = _SIZE_PTR.unpack_from(_MEM, addr + 8)
        return [inner(data + _VAL * i) for i in range(size)]

    return lift


def _record(*fields: Lift) -> Lift:
    def lift(addr: int) -> tuple[Any, ...]:
        _, data = _SIZE_PTR.unpack_from(_MEM, addr + 8)
        return tuple(f(data + _ENTRY * i + 16) for i, f in enumerate(fields))

    return lift


def _error(addr: int) -> PolicyError:
    tag_size, tag_ptr, payload = _TAG_PAYLOAD.unpack_from(_MEM, addr + 8)
    tag = str(_MEM[tag_ptr : tag_ptr + tag_size], "utf-8")
    return error_from_wit(tag, _string(payload) if payload else "")


def _result(ok: Lift | None) -> Lift:
    def lift(addr: int) -> Any:
        _, is_ok, ptr = _RESULT.unpack_from(_MEM, addr)
        if is_ok:
            return ok(ptr) if ok is not None and ptr else None
        raise _error(ptr)

    return lift


# ---- the functions we call ----------------------------------------------

_EV = "sark:policy/evaluator@0.1.0"
_DC = "sark:policy/decision-cache@0.1.0"
_AU = "sark:policy/authorizer@0.1.0"
_DL = "sark:policy/decision-log@0.1.0"
_REQ = "record{user: string, action: string, resource: string, context: string}"
_OPTS = "record{interpreter-only: bool, max-instructions: u64}"
_REASON = ("enum{forced, query, with-keyword, unknown-function, unsupported, strict,"
           " conflict}")
_TEST_RESULT = ("record{package: string, name: string, file: string, row: u32, col: u32,"
                " outcome: enum{pass, fail, error, skip}, message: string, nanos: u64}")
_BUNDLE_INFO = ("record{name: string, revision: string, roots: list<string>, metadata: string,"
                " modules: list<string>, deltas: u64}")
_BUNDLE_SOURCE = ("variant{tarball(list<u8>), files(list<record{path: string,"
                  " bytes: list<u8>}>)}")
_VERIFICATION = ("record{keys: list<record{id: string, algorithm: string, key: string,"
                 " scope: string}>, key-id: string, scope: string, exclude-files: list<string>}")
# (name, revision, roots, metadata JSON, modules, deltas)
_bundle_info = _record(_string, _string, _list(_string), _string, _list(_string), _u64)
_DECISION_T = "record{value: option<string>, cached: bool, key: string}"
_LOG_STATS = ("record{logged: u64, dropped-buffer-full: u64, dropped-mask-error: u64,"
              " truncated: u64, buffered-events: u64, buffered-bytes: u64, batches: u64,"
              " batched-events: u64}")
_LOG_CONFIG = ("record{labels: list<tuple<string, string>>, erase: list<string>,"
               " max-buffer-bytes: u64, max-event-bytes: u64, cached-sample: u32,"
               " id-seed: tuple<u64, u64>}")
_STATS = (f"record{{rvm: u64, interpreted: list<record{{reason: {_REASON}, count: u64}}>,"
          f" compiled: u64, fallbacks: list<record{{rule: string, reason: {_REASON},"
          " message: string}>}")

# name -> (interface, export, expected signature, param kinds, result lifter)
SIGNATURES: Final[dict[str, tuple[str, str, str, tuple[int, ...], Lift | None]]] = {
    "engine.add-policy": (_EV, "[method]engine.add-policy",
        "(self: borrow, name: string, source: string) -> result<string, error>",
        (BORROW, STR, STR), _result(_string)),
    "engine.remove-policy": (_EV, "[method]engine.remove-policy",
        "(self: borrow, name: string) -> result<_, error>", (BORROW, STR), _result(None)),
    "engine.policies": (_EV, "[method]engine.policies",
        "(self: borrow) -> list<string>", (BORROW,), _list(_string)),
    "engine.packages": (_EV, "[method]engine.packages",
        "(self: borrow) -> list<string>", (BORROW,), _list(_string)),
    "engine.add-data": (_EV, "[method]engine.add-data",
        "(self: borrow, json: string) -> result<_, error>", (BORROW, STR), _result(None)),
    "engine.replace-data": (_EV, "[method]engine.replace-data",
        "(self: borrow, json: string) -> result<_, error>", (BORROW, STR), _result(None)),
    "engine.clear-data": (_EV, "[method]engine.clear-data", "(self: borrow)", (BORROW,), None),
    "engine.data": (_EV, "[method]engine.data",
        "(self: borrow) -> result<string, error>", (BORROW,), _result(_string)),
    "engine.eval-rule": (_EV, "[method]engine.eval-rule",
        "(self: borrow, rule: string, input: string) -> result<option<string>, error>",
        (BORROW, STR, STR), _result(_option(_string))),
    "engine.eval-query": (_EV, "[method]engine.eval-query",
        "(self: borrow, query: string, input: string) -> result<string, error>",
        (BORROW, STR, STR), _result(_string)),
    "engine.set-strict-builtin-errors": (_EV, "[method]engine.set-strict-builtin-errors",
        "(self: borrow, on: bool)", (BORROW, BOOL_), None),
    "engine.set-rego-version": (_EV, "[method]engine.set-rego-version",
        "(self: borrow, version: enum{v1, v0})", (BORROW, ENUM_), None),
    "engine.rego-version": (_EV, "[method]engine.rego-version",
        "(self: borrow) -> enum{v1, v0}", (BORROW,), _enum),
    "engine.revision": (_EV, "[method]engine.revision", "(self: borrow) -> u64", (BORROW,), _u64),
    "engine.set-eval-options": (_EV, "[method]engine.set-eval-options",
        f"(self: borrow, options: {_OPTS})", (BORROW, OPTIONS), None),
    "engine.eval-options": (_EV, "[method]engine.eval-options",
        f"(self: borrow) -> {_OPTS}", (BORROW,), _record(_bool, _u64)),
    # (rvm, [(reason, count)], compiled, [(rule, reason, message)])
    "engine.eval-stats": (_EV, "[method]engine.eval-stats", f"(self: borrow) -> {_STATS}",
        (BORROW,), _record(_u64, _list(_record(_enum, _u64)), _u64,
                           _list(_record(_string, _enum, _string)))),
    "engine.limits": (_EV, "[method]engine.limits",
        "(self: borrow) -> record{max-depth: u32, max-bytes: u64}", (BORROW,), _record(_u32, _u64)),
    # [(package, name, file, row, col, outcome, message, nanos)]
    "engine.run-tests": (_EV, "[method]engine.run-tests",
        f"(self: borrow, filter: string) -> result<list<{_TEST_RESULT}>, error>", (BORROW, STR),
        _result(_list(_record(_string, _string, _string, _u32, _u32, _enum, _string, _u64)))),
    # `source` and `verification` are `_lower` values (see `_bundles`).
    "engine.activate-bundle": (_EV, "[method]engine.activate-bundle",
        f"(self: borrow, name: string, source: {_BUNDLE_SOURCE},"
        f" verification: option<{_VERIFICATION}>) -> result<{_BUNDLE_INFO}, error>",
        (BORROW, STR, RAW, RAW), _result(_bundle_info)),
    "engine.remove-bundle": (_EV, "[method]engine.remove-bundle",
        "(self: borrow, name: string) -> result<_, error>", (BORROW, STR), _result(None)),
    "engine.bundles": (_EV, "[method]engine.bundles",
        f"(self: borrow) -> list<{_BUNDLE_INFO}>", (BORROW,), _list(_bundle_info)),
    "cache.get": (_DC, "[method]cache.get",
        "(self: borrow, key: string, now-ms: u64) -> option<string>",
        (BORROW, STR, U64_), _option(_string)),
    "cache.set": (_DC, "[method]cache.set",
        "(self: borrow, key: string, value: string, now-ms: u64, expires-at-ms: u64)"
        " -> result<_, error>", (BORROW, STR, STR, U64_, U64_), _result(None)),
    "cache.delete": (_DC, "[method]cache.delete",
        "(self: borrow, key: string) -> bool", (BORROW, STR), _bool),
    "cache.clear": (_DC, "[method]cache.clear", "(self: borrow)", (BORROW,), None),
    "cache.size": (_DC, "[method]cache.size", "(self: borrow) -> u64", (BORROW,), _u64),
    "cache.cleanup-expired": (_DC, "[method]cache.cleanup-expired",
        "(self: borrow, now-ms: u64) -> u64", (BORROW, U64_), _u64),
    "cache.stats": (_DC, "[method]cache.stats",
        "(self: borrow) -> record{hits: u64, misses: u64, evictions: u64, expirations: u64,"
        " entries: u64, capacity: u64}", (BORROW,), _record(*[_u64] * 6)),
    "cache.reset-stats": (_DC, "[method]cache.reset-stats", "(self: borrow)", (BORROW,), None),
    "decide": (_AU, "decide",
        f"(engine: borrow, cache: borrow, rule: string, req: {_REQ}, now-ms: u64,"
        " expires-at-ms: u64) -> result<record{value: option<string>, cached: bool,"
        " key: string}, error>",
        (BORROW, BORROW, STR, REQUEST, U64_, U64_), None),
    "decide-logged": (_AU, "decide-logged",
        f"(engine: borrow, cache: borrow, log: borrow, rule: string, req: {_REQ}, now-ms: u64,"
        f" expires-at-ms: u64, timestamp-ns: u64) -> result<record{{decision: {_DECISION_T},"
        " decision-id: string}, error>",
        (BORROW, BORROW, BORROW, STR, REQUEST, U64_, U64_, U64_), None),
    # (body, events, JSON bytes) or None
    "log.take-batch": (_DL, "[method]log.take-batch",
        "(self: borrow, max-json-bytes: u64, encoding: enum{gzip, json-lines, json-array})"
        " -> option<record{body: list<u8>, events: u32, json-bytes: u64}>",
        (BORROW, U64_, ENUM_), _option(_record(_bytes, _u32, _u64))),
    "log.stats": (_DL, "[method]log.stats", f"(self: borrow) -> {_LOG_STATS}", (BORROW,),
        _record(*[_u64] * 8)),
    "cache-key": (_AU, "cache-key", f"(req: {_REQ}) -> result<string, error>",
        (REQUEST,), _result(_string)),
}

_CONSTRUCTORS: Final = {
    "engine.new": (_EV, "[constructor]engine", "() -> own"),
    "cache.create": (_DC, "[static]cache.create", "(capacity: u32) -> result<own, error>"),
    "log.create": (_DL, "[static]log.create", f"(config: {_LOG_CONFIG}) -> result<own, error>"),
}

_ERROR_VARIANT: Final = (
    "variant{invalid-policy(string), invalid-json(string), evaluation(string),"
    " limit-exceeded(string), not-found(string), other(string), invalid-bundle(string)}"
)


def render_type(t: ValType | None) -> str:
    """A WIT-like rendering of a wasmtime-py type (resources as `own` /
    `borrow`, the shared error variant as `error`)."""
    if t is None:
        return "_"
    if isinstance(t, String):
        return "string"
    if isinstance(t, Bool):
        return "bool"
    if isinstance(t, U8):
        return "u8"
    if isinstance(t, U32):
        return "u32"
    if isinstance(t, U64):
        return "u64"
    if isinstance(t, BorrowType):
        return "borrow"
    if isinstance(t, OwnType):
        return "own"
    if isinstance(t, ListType):
        return f"list<{render_type(t.element)}>"
    if isinstance(t, OptionType):
        return f"option<{render_type(t.payload)}>"
    if isinstance(t, ResultType):
        return f"result<{render_type(t.ok)}, {render_type(t.err)}>"
    if isinstance(t, TupleType):
        return "tuple<" + ", ".join(render_type(e) for e in t.elements) + ">"
    if isinstance(t, RecordType):
        return "record{" + ", ".join(f"{n}: {render_type(v)}" for n, v in t.fields) + "}"
    if isinstance(t, VariantType):
        text = "variant{" + ", ".join(
            n if v is None else f"{n}({render_type(v)})" for n, v in t.cases) + "}"
        return "error" if text == _ERROR_VARIANT else text
    if isinstance(t, EnumType):
        return "enum{" + ", ".join(t.names) + "}"
    return type(t).__name__


def render_func_type(fty: FuncType) -> str:
    """`(name: type, ...) -> result` for a component function type."""
    params = ", ".join(f"{n}: {render_type(t)}" for n, t in fty.params)
    result = fty.result
    return f"({params})" + (f" -> {render_type(result)}" if result is not None else "")


class _Fn:
    """One resolved function: its handle, argument array, result slot, and
    the arguments of `wasmtime_component_func_call` for it."""

    __slots__ = ("func", "addr", "kinds", "nargs", "nres", "args", "args_addr", "q", "res",
                 "res_addr", "res_mv", "cargs", "rec", "rec_addr", "rq", "lift")

    def __init__(self, func: Func, ctx: int, kinds: tuple[int, ...], has_result: bool,
                 lift: Lift | None) -> None:
        self.func = func  # keeps the Func and its C struct alive
        self.addr = ctypes.addressof(func._func)
        self.kinds = kinds
        self.nargs = len(kinds)
        self.nres = 1 if has_result else 0
        self.args = (ctypes.c_ubyte * (_VAL * max(1, self.nargs)))()
        self.args_addr = ctypes.addressof(self.args)
        self.q = memoryview(self.args).cast("B").cast("Q")
        self.res = (ctypes.c_ubyte * _VAL)()  # zeroed: a `bool false`, safe to drop
        self.res_addr = ctypes.addressof(self.res)
        self.res_mv = memoryview(self.res).cast("B")
        self.cargs = (c_void_p(self.addr), c_void_p(ctx), c_void_p(self.args_addr),
                      c_size_t(self.nargs), c_void_p(self.res_addr), c_size_t(self.nres))
        self.lift = lift
        fields = next((_RECORD_FIELDS[k] for k in kinds if k in _RECORD_FIELDS), ())
        self.rec = (ctypes.c_ubyte * (_ENTRY * max(1, len(fields))))()
        self.rec_addr = ctypes.addressof(self.rec)
        self.rq = memoryview(self.rec).cast("B").cast("Q")
        for i, kind in enumerate(kinds):
            self.q[i * 4] = _PARAM_KIND[kind]
            if kind in _RECORD_FIELDS:
                # Entry j: name size and pointer (Q 6j, 6j+1), value kind
                # (6j+2), payload (6j+3, 6j+4).
                self.q[i * 4 + 1] = len(fields)
                self.q[i * 4 + 2] = self.rec_addr
                name_addr = ctypes.addressof(_FIELD_NAMES[kind])
                for j, (name, field_kind) in enumerate(fields):
                    self.rq[j * 6: j * 6 + 3] = memoryview(
                        _SIZE_PTR.pack(len(name), name_addr)
                        + _Q.pack(_PARAM_KIND[field_kind])).cast("Q")
                    name_addr += len(name)

    def free(self) -> None:
        """Drops the value the result slot holds."""
        if self.res[0] != _K_BOOL:
            _VAL_DELETE(self.res_addr)
            ctypes.memset(self.res_addr, 0, _VAL)


_checked = False  # signatures are checked once per process: one component



def _pack_request(rq: memoryview, ub: bytes, ab: bytes, sb: bytes, cb: bytes) -> None:
    """Points the packed `request` record at the four encoded strings.
    Entry j of the record: name (Q 6j, 6j+1), kind (6j+2), string size and
    pointer (6j+3, 6j+4). The bytes objects must outlive the call."""
    rq[3] = len(ub)
    rq[4] = id(ub) + _BYTES_AT
    rq[9] = len(ab)
    rq[10] = id(ab) + _BYTES_AT
    rq[15] = len(sb)
    rq[16] = id(sb) + _BYTES_AT
    rq[21] = len(cb)
    rq[22] = id(cb) + _BYTES_AT


class Bindings:
    """The functions of one instance with their buffers.

    Not thread-safe: one call at a time, which the sandbox lock ensures.
    `ticks` is the epoch deadline armed before a call. Arming is an FFI
    call of its own, so with `rearm_ns` > 0 a deadline armed less than
    `rearm_ns` ago is kept for the next call: pick `ticks` with one tick to
    spare when `rearm_ns` is one tick (see `Sandbox`).
    """

    def __init__(self, store: Store, instance: Instance, rearm_ns: int = 0) -> None:
        global _checked
        self._store = store
        ctx = ctypes.cast(store._context(), c_void_p).value
        assert ctx is not None
        self._ctx = ctx
        self._ticks = 1
        self._rearm_ns = rearm_ns
        self._armed_until = 0  # monotonic ns until which the armed deadline is kept
        resolved: dict[str, Func] = {}
        exports = [(n, s[0], s[1]) for n, s in SIGNATURES.items()]
        exports += [(n, s[0], s[1]) for n, s in _CONSTRUCTORS.items()]
        for name, iface, export in exports:
            parent = instance.get_export_index(store, iface)
            index = instance.get_export_index(store, export, parent) if parent else None
            func = instance.get_func(store, index) if index else None
            if func is None:
                raise ImportError(f"the component does not export {iface}#{export}")
            resolved[name] = func
        if not _checked:
            expected = {n: s[2] for n, s in SIGNATURES.items()}
            expected.update((n, s[2]) for n, s in _CONSTRUCTORS.items())
            found = {n: render_func_type(resolved[n].type(store)) for n in expected}
            wrong = [f"{n}: expected {expected[n]}, found {found[n]}"
                     for n in expected if found[n] != expected[n]]
            if wrong:
                raise ImportError("the component's WIT changed:\n  " + "\n  ".join(wrong))
            _checked = True
        self._fns = {
            name: _Fn(resolved[name], self._ctx, kinds,
                      resolved[name].type(store).result is not None, lift)
            for name, (_i, _e, _s, kinds, lift) in SIGNATURES.items()
        }
        self._new_engine = resolved["engine.new"]
        self._create_cache = resolved["cache.create"]
        self._create_log = resolved["log.create"]
        f = self._fns
        self._get, self._set, self._eval = f["cache.get"], f["cache.set"], f["engine.eval-rule"]
        self._decide, self._key = f["decide"], f["cache-key"]
        self._decide_logged = f["decide-logged"]

    @property
    def ticks(self) -> int:
        """Epoch ticks armed as the deadline of each call."""
        return self._ticks

    @ticks.setter
    def ticks(self, ticks: int) -> None:
        self._ticks = ticks
        self._armed_until = 0  # the next call arms the new deadline

    # -- plumbing ---------------------------------------------------------

    def _run(self, fn: _Fn) -> None:
        """Arms the deadline (unless kept) and calls `fn` with the arguments
        its buffers hold."""
        now = _now_ns()
        if now >= self._armed_until:
            _SET_DEADLINE(self._ctx, self._ticks)
            self._armed_until = now + self._rearm_ns
        err = _CALL(*fn.cargs)
        if err:
            raise _trapped(err)

    def call(self, name: str, *values: Any) -> Any:
        """Calls the function `name` of `SIGNATURES` with Python values
        (resource handles as `int`, strings as `str` or UTF-8 `bytes`, a
        record as a tuple of its fields, a `RAW` parameter as a `Lowered`
        value). Raises the WIT error as a
        `PolicyError`, or `Trapped`."""
        fn = self._fns[name]
        q, rq = fn.q, fn.rq
        keep: list[object] = []  # what is pointed to, alive until the call returns
        for i, (kind, v) in enumerate(zip(fn.kinds, values, strict=True)):
            if kind == RAW:
                assert isinstance(v, Lowered)
                keep.append(v)
                q[i * 4: i * 4 + 4] = memoryview(v.image).cast("Q")
            elif kind == STR or kind == ENUM_:
                b = _utf8(v)
                keep.append(b)
                q[i * 4 + 1] = len(b)
                q[i * 4 + 2] = _addr(b)
            elif kind in _RECORD_FIELDS:
                for j, ((_, field_kind), x) in enumerate(
                        zip(_RECORD_FIELDS[kind], v, strict=True)):
                    if field_kind == STR:
                        b = _utf8(x)
                        keep.append(b)
                        rq[j * 6 + 3] = len(b)
                        rq[j * 6 + 4] = _addr(b)
                    else:
                        rq[j * 6 + 3] = int(x)  # bool or u64
            elif kind == BOOL_:
                q[i * 4 + 1] = 1 if v else 0
            else:
                q[i * 4 + 1] = v
        self._run(fn)
        return fn.lift(fn.res_addr) if fn.lift is not None else None

    # -- the hot calls, specialised -----------------------------------------
    # Arguments point straight at the bytes objects (kept alive by the
    # locals), and `_run` is inlined: these run once per request.

    def cache_get(self, cache: int, key: str | bytes, now_ms: int) -> str | None:
        """`cache.get`: the stored JSON text, or None."""
        fn = self._get
        kb = key if isinstance(key, bytes) else key.encode()
        q = fn.q
        q[1] = cache
        q[5] = len(kb)
        q[6] = id(kb) + _BYTES_AT
        q[9] = now_ms
        now = _now_ns()
        if now >= self._armed_until:
            _SET_DEADLINE(self._ctx, self._ticks)
            self._armed_until = now + self._rearm_ns
        err = _CALL(*fn.cargs)
        if err:
            raise _trapped(err)
        ptr = _unpack_q(fn.res_mv, 8)[0]
        if not ptr:
            return None
        return _text(*_unpack_size_ptr(_MEM, ptr + 8))

    def cache_set(self, cache: int, key: str | bytes, value: str | bytes, now_ms: int,
                  expires_ms: int) -> None:
        """`cache.set` of JSON `value`; raises the WIT error."""
        fn = self._set
        kb = _utf8(key)
        vb = _utf8(value)
        q = fn.q
        q[1] = cache
        q[5] = len(kb)
        q[6] = id(kb) + _BYTES_AT
        q[9] = len(vb)
        q[10] = id(vb) + _BYTES_AT
        q[13] = now_ms
        q[17] = expires_ms
        self._run(fn)
        _, is_ok, ptr = _RESULT.unpack_from(_MEM, fn.res_addr)
        if not is_ok:
            raise _error(ptr)

    def eval_rule(self, engine: int, rule: str, input_json: str | bytes) -> str | None:
        """`engine.eval-rule`: the value as JSON text, None when undefined."""
        fn = self._eval
        rb = rule.encode()
        ib = input_json if isinstance(input_json, bytes) else input_json.encode()
        q = fn.q
        q[1] = engine
        q[5] = len(rb)
        q[6] = id(rb) + _BYTES_AT
        q[9] = len(ib)
        q[10] = id(ib) + _BYTES_AT
        now = _now_ns()
        if now >= self._armed_until:
            _SET_DEADLINE(self._ctx, self._ticks)
            self._armed_until = now + self._rearm_ns
        err = _CALL(*fn.cargs)
        if err:
            raise _trapped(err)
        _, is_ok, ptr = _unpack_result(fn.res_mv)
        if not is_ok:
            raise _error(ptr)
        opt = _unpack_q(_MEM, ptr + 8)[0]
        if not opt:
            return None
        return _text(*_unpack_size_ptr(_MEM, opt + 8))

    def decide(self, engine: int, cache: int, rule: str, user: str, action: str,
               resource: str, context: str | bytes, now_ms: int, expires_ms: int
               ) -> tuple[str | None, bool, str]:
        """`authorizer.decide` with the context as JSON: (value JSON or
        None, cached, key)."""
        fn = self._decide
        rb, ub, ab, sb, cb = (rule.encode(), user.encode(), action.encode(),
                              resource.encode(), _utf8(context))
        q = fn.q
        q[1] = engine
        q[5] = cache
        q[9] = len(rb)
        q[10] = id(rb) + _BYTES_AT
        q[17] = now_ms
        q[21] = expires_ms
        _pack_request(fn.rq, ub, ab, sb, cb)
        self._run(fn)
        _, is_ok, ptr = _RESULT.unpack_from(_MEM, fn.res_addr)
        if not is_ok:
            raise _error(ptr)
        entries = _SIZE_PTR.unpack_from(_MEM, ptr + 8)[1]
        opt, cached, key_size, key_ptr = _DECISION.unpack_from(_MEM, entries)
        key = str(_MEM[key_ptr : key_ptr + key_size], "utf-8")
        if not opt:
            return None, cached, key
        return _text(*_unpack_size_ptr(_MEM, opt + 8)), cached, key

    def decide_logged(self, engine: int, cache: int, log: int, rule: str, user: str,
                      action: str, resource: str, context: str | bytes, now_ms: int,
                      expires_ms: int, timestamp_ns: int
                      ) -> tuple[str | None, bool, str, str]:
        """`authorizer.decide-logged` with the context as JSON: (value JSON
        or None, cached, key, decision id)."""
        fn = self._decide_logged
        rb, ub, ab, sb, cb = (rule.encode(), user.encode(), action.encode(),
                              resource.encode(), _utf8(context))
        q = fn.q
        q[1] = engine
        q[5] = cache
        q[9] = log
        q[13] = len(rb)
        q[14] = id(rb) + _BYTES_AT
        q[21] = now_ms
        q[25] = expires_ms
        q[29] = timestamp_ns
        _pack_request(fn.rq, ub, ab, sb, cb)
        self._run(fn)
        _, is_ok, ptr = _RESULT.unpack_from(_MEM, fn.res_addr)
        if not is_ok:
            raise _error(ptr)
        outer = _SIZE_PTR.unpack_from(_MEM, ptr + 8)[1]
        entries, id_size, id_ptr = _LOGGED.unpack_from(_MEM, outer)
        decision_id = str(_MEM[id_ptr : id_ptr + id_size], "ascii")
        opt, cached, key_size, key_ptr = _DECISION.unpack_from(_MEM, entries)
        key = str(_MEM[key_ptr : key_ptr + key_size], "utf-8")
        if not opt:
            return None, cached, key, decision_id
        return _text(*_unpack_size_ptr(_MEM, opt + 8)), cached, key, decision_id

    def cache_key(self, user: str, action: str, resource: str, context: str | bytes) -> str:
        """`authorizer.cache-key` with the context as JSON: the seed-format
        key."""
        result: str = self.call("cache-key", (user, action, resource, context))
        return result

    # -- resources (rare: the public wasmtime-py path) ------------------------

    def new_engine(self) -> ResourceAny:
        """A new `engine` resource."""
        self._store.set_epoch_deadline(self.ticks)
        try:
            res = self._new_engine(self._store)
        except WasmtimeError as e:
            raise Trapped(str(e)) from None
        assert isinstance(res, ResourceAny)
        return res

    def new_cache(self, capacity: int) -> ResourceAny:
        """A new `cache` resource; raises `LimitExceededError` for capacity 0."""
        self._store.set_epoch_deadline(self.ticks)
        try:
            res = self._create_cache(self._store, capacity)
        except WasmtimeError as e:
            raise Trapped(str(e)) from None
        if isinstance(res, Variant):
            raise error_from_wit(res.tag, str(res.payload))
        assert isinstance(res, ResourceAny)
        return res

    def new_log(self, config: object) -> ResourceAny:
        """A new decision-log `log` resource; `config` has the attributes of
        `log-config` (kebab-case names). Raises `OtherPolicyError` for a bad
        erase path."""
        self._store.set_epoch_deadline(self.ticks)
        try:
            res = self._create_log(self._store, config)
        except WasmtimeError as e:
            raise Trapped(str(e)) from None
        if isinstance(res, Variant):
            raise error_from_wit(res.tag, str(res.payload))
        assert isinstance(res, ResourceAny)
        return res

    def drop(self, resource: ResourceAny) -> None:
        """Runs the guest destructor of `resource`."""
        self._store.set_epoch_deadline(self.ticks)
        try:
            resource.drop(self._store)
        except WasmtimeError as e:
            raise Trapped(str(e)) from None

    @staticmethod
    def handle(resource: ResourceAny) -> int:
        """The address passed for `resource` in a `borrow` argument; valid
        only while `resource` is referenced (it is the address of its C box)."""
        address = ctypes.cast(resource.ptr(), c_void_p).value
        assert address is not None
        return address

    def close(self) -> None:
        """Frees the values the result slots still hold."""
        for fn in self._fns.values():
            fn.free()
