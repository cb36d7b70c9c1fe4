"""The lean call path into one component instance.

This is the only module that uses wasmtime-py internals, which is why the
package pins `wasmtime==50.0.1` and this module refuses any other version.

Why: `wasmtime.component.Func.__call__` re-reads the function type over FFI
and rebuilds every converter on every call (about 35 us for a cache get,
150 us for a decision). Here each function is resolved once per instance and
checked once per process against the signature it must have (so a changed
WIT fails loudly at load, not with a crash); its argument array and result
slot are allocated once; arguments are packed straight into the C
`wasmtime_component_val_t` layout; results are read with `struct` from the
returned pointers. A call is then one FFI crossing (plus one to arm the
deadline).

Internals used (all of wasmtime-py 50.0.1): `wasmtime._ffi` (the C struct
layouts, kind codes and the shared library handle), `Func._func`,
`Store._context()`, `Managed.ptr()` and `WasmtimeError._from_ptr`.

Memory rules of `wasmtime_component_func_call` that this relies on: the
arguments are only read (copied into Rust values), so they may point into
our own buffers and are never freed by the callee; the result slot is
overwritten with `*slot = new` which drops whatever the slot held, so a
slot always holds a valid value (zeroed = `bool false` at first) and the
previous result is freed by the next call, or by `close()`.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable, Sequence
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
    U32,
    U64,
    ValType,
    Variant,
    VariantType,
)

from ._errors import PolicyError, error_from_wit

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

# Parameter kinds of the functions we call.
BORROW, STR, U64_, U32_, BOOL_, REQUEST = range(6)
_PARAM_KIND = {BORROW: _K_RESOURCE, STR: _K_STRING, U64_: _K_U64, U32_: _K_U32,
               BOOL_: _K_BOOL, REQUEST: _K_RECORD}
REQUEST_FIELDS: Final = ("user", "action", "resource", "context")


def _raw(name: str, restype: Any, *argtypes: Any) -> Any:
    """A prototype over the library symbol without wasmtime-py's wrapper or
    argtypes checks. CFUNCTYPE releases the GIL for the call."""
    address = ctypes.cast(getattr(ffi.dll, name), c_void_p).value
    assert address is not None
    return ctypes.CFUNCTYPE(restype, *argtypes)(address)


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
_DECISION = struct.Struct("<16x8xQ16x" "16x8x?23x" "16x8xQQ8x")  # value*, cached, key


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


def _u32(addr: int) -> int:
    return int(_I.unpack_from(_MEM, addr + 8)[0])


def _bool(addr: int) -> bool:
    return _MEM[addr + 8] != 0


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
_REQ = "record{user: string, action: string, resource: string, context: string}"

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
    "engine.eval-rule": (_EV, "[method]engine.eval-rule",
        "(self: borrow, rule: string, input: string) -> result<option<string>, error>",
        (BORROW, STR, STR), _result(_option(_string))),
    "engine.eval-query": (_EV, "[method]engine.eval-query",
        "(self: borrow, query: string, input: string) -> result<string, error>",
        (BORROW, STR, STR), _result(_string)),
    "engine.set-strict-builtin-errors": (_EV, "[method]engine.set-strict-builtin-errors",
        "(self: borrow, on: bool)", (BORROW, BOOL_), None),
    "engine.revision": (_EV, "[method]engine.revision", "(self: borrow) -> u64", (BORROW,), _u64),
    "engine.limits": (_EV, "[method]engine.limits",
        "(self: borrow) -> record{max-depth: u32, max-bytes: u64}", (BORROW,), _record(_u32, _u64)),
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
    "cache-key": (_AU, "cache-key", f"(req: {_REQ}) -> result<string, error>",
        (REQUEST,), _result(_string)),
}

_CONSTRUCTORS: Final = {
    "engine.new": (_EV, "[constructor]engine", "() -> own"),
    "cache.create": (_DC, "[static]cache.create", "(capacity: u32) -> result<own, error>"),
}

_ERROR_VARIANT: Final = (
    "variant{invalid-policy(string), invalid-json(string), evaluation(string),"
    " limit-exceeded(string), not-found(string), other(string)}"
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
    """One resolved function: its handle, argument array and result slot."""

    __slots__ = ("func", "addr", "kinds", "nargs", "nres", "args", "args_addr", "q", "res",
                 "res_addr", "rec", "rec_addr", "rq", "lift")

    def __init__(self, func: Func, kinds: tuple[int, ...], has_result: bool,
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
        self.lift = lift
        self.rec = (ctypes.c_ubyte * (_ENTRY * len(REQUEST_FIELDS)))()
        self.rec_addr = ctypes.addressof(self.rec)
        self.rq = memoryview(self.rec).cast("B").cast("Q")
        for i, kind in enumerate(kinds):
            self.q[i * 4] = _PARAM_KIND[kind]
            if kind == REQUEST:
                self.q[i * 4 + 1] = len(REQUEST_FIELDS)
                self.q[i * 4 + 2] = self.rec_addr
                for j, name in enumerate(REQUEST_FIELDS):
                    name_addr = ctypes.addressof(_NAMES) + _NAME_AT[j]
                    self.rq[j * 6: j * 6 + 3] = memoryview(
                        _SIZE_PTR.pack(len(name), name_addr) + _Q.pack(_K_STRING)).cast("Q")

    def free(self) -> None:
        """Drops the value the result slot holds."""
        if self.res[0] != _K_BOOL:
            _VAL_DELETE(self.res_addr)
            ctypes.memset(self.res_addr, 0, _VAL)


_NAMES = ctypes.create_string_buffer("".join(REQUEST_FIELDS).encode())
_NAME_AT = tuple(sum(len(n) for n in REQUEST_FIELDS[:i]) for i in range(len(REQUEST_FIELDS)))

_checked = False  # signatures are checked once per process: one component


class Bindings:
    """The functions of one instance with their buffers.

    Not thread-safe: one call at a time, which the sandbox lock ensures.
    `ticks` is the epoch deadline armed before each call.
    """

    def __init__(self, store: Store, instance: Instance) -> None:
        global _checked
        self._store = store
        self._ctx = ctypes.cast(store._context(), c_void_p).value
        self.ticks = 1
        self._arena = (ctypes.c_ubyte * 4096)()
        self._arena_addr = ctypes.addressof(self._arena)
        self._arena_mv = memoryview(self._arena).cast("B")
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
            name: _Fn(resolved[name], kinds, resolved[name].type(store).result is not None, lift)
            for name, (_i, _e, _s, kinds, lift) in SIGNATURES.items()
        }
        self._new_engine = resolved["engine.new"]
        self._create_cache = resolved["cache.create"]
        f = self._fns
        self._get, self._set, self._eval = f["cache.get"], f["cache.set"], f["engine.eval-rule"]
        self._decide, self._key = f["decide"], f["cache-key"]

    # -- plumbing ---------------------------------------------------------

    def _stage(self, blob: bytes) -> int:
        """Copies `blob` into the argument arena; returns its address."""
        n = len(blob)
        if n > len(self._arena_mv):
            self._arena = (ctypes.c_ubyte * max(n, 2 * len(self._arena_mv)))()
            self._arena_addr = ctypes.addressof(self._arena)
            self._arena_mv = memoryview(self._arena).cast("B")
        self._arena_mv[:n] = blob
        return self._arena_addr

    def _run(self, fn: _Fn) -> None:
        _SET_DEADLINE(self._ctx, self.ticks)
        err = _CALL(fn.addr, self._ctx, fn.args_addr, fn.nargs, fn.res_addr, fn.nres)
        if err:
            raise _trapped(err)

    def _set_request(self, fn: _Fn, base: int, offset: int, parts: Sequence[bytes]) -> None:
        rq = fn.rq
        for j, b in enumerate(parts):
            rq[j * 6 + 3] = len(b)
            rq[j * 6 + 4] = base + offset
            offset += len(b)

    def call(self, name: str, *values: Any) -> Any:
        """Calls the function `name` of `SIGNATURES` with Python values
        (resource handles as `int`, a request as a 4-tuple of `str`).
        Raises the WIT error as a `PolicyError`, or `Trapped`."""
        fn = self._fns[name]
        q = fn.q
        strings: list[tuple[int, int, bytes]] = []  # (param index, field or -1, bytes)
        for i, (kind, v) in enumerate(zip(fn.kinds, values, strict=True)):
            if kind == STR:
                strings.append((i, -1, v.encode()))
            elif kind == REQUEST:
                strings.extend((i, j, s.encode()) for j, s in enumerate(v))
            elif kind == BOOL_:
                q[i * 4 + 1] = 1 if v else 0
            else:
                q[i * 4 + 1] = v
        if strings:
            base = self._stage(b"".join(s for _, _, s in strings))
            offset = 0
            for i, j, s in strings:
                if j < 0:
                    q[i * 4 + 1] = len(s)
                    q[i * 4 + 2] = base + offset
                else:
                    fn.rq[j * 6 + 3] = len(s)
                    fn.rq[j * 6 + 4] = base + offset
                offset += len(s)
        self._run(fn)
        return fn.lift(fn.res_addr) if fn.lift is not None else None

    # -- the hot calls, specialised -----------------------------------------

    def cache_get(self, cache: int, key: str, now_ms: int) -> str | None:
        """`cache.get`: the stored JSON text, or None."""
        fn = self._get
        kb = key.encode()
        q = fn.q
        q[1] = cache
        q[5] = len(kb)
        q[6] = self._stage(kb)
        q[9] = now_ms
        self._run(fn)
        ptr = _Q.unpack_from(_MEM, fn.res_addr + 8)[0]
        if not ptr:
            return None
        size, data = _SIZE_PTR.unpack_from(_MEM, ptr + 8)
        return str(_MEM[data : data + size], "utf-8")

    def cache_set(self, cache: int, key: str, value: str, now_ms: int, expires_ms: int) -> None:
        """`cache.set`; raises the WIT error."""
        fn = self._set
        kb = key.encode()
        vb = value.encode()
        base = self._stage(kb + vb)
        q = fn.q
        q[1] = cache
        q[5] = len(kb)
        q[6] = base
        q[9] = len(vb)
        q[10] = base + len(kb)
        q[13] = now_ms
        q[17] = expires_ms
        self._run(fn)
        _, is_ok, ptr = _RESULT.unpack_from(_MEM, fn.res_addr)
        if not is_ok:
            raise _error(ptr)

    def eval_rule(self, engine: int, rule: str, input_json: str) -> str | None:
        """`engine.eval-rule`: the value as JSON text, None when undefined."""
        fn = self._eval
        rb = rule.encode()
        ib = input_json.encode()
        base = self._stage(rb + ib)
        q = fn.q
        q[1] = engine
        q[5] = len(rb)
        q[6] = base
        q[9] = len(ib)
        q[10] = base + len(rb)
        self._run(fn)
        _, is_ok, ptr = _RESULT.unpack_from(_MEM, fn.res_addr)
        if not is_ok:
            raise _error(ptr)
        opt = _Q.unpack_from(_MEM, ptr + 8)[0]
        if not opt:
            return None
        size, data = _SIZE_PTR.unpack_from(_MEM, opt + 8)
        return str(_MEM[data : data + size], "utf-8")

    def decide(self, engine: int, cache: int, rule: str, user: str, action: str,
               resource: str, context: str, now_ms: int, expires_ms: int
               ) -> tuple[str | None, bool, str]:
        """`authorizer.decide`: (value JSON or None, cached, key)."""
        fn = self._decide
        rb, ub, ab, sb, cb = (rule.encode(), user.encode(), action.encode(),
                              resource.encode(), context.encode())
        base = self._stage(rb + ub + ab + sb + cb)
        q = fn.q
        q[1] = engine
        q[5] = cache
        q[9] = len(rb)
        q[10] = base
        q[17] = now_ms
        q[21] = expires_ms
        rq = fn.rq
        o = base + len(rb)
        # Entry j of the request record: name (Q 6j, 6j+1), kind (6j+2),
        # string size and pointer (6j+3, 6j+4).
        rq[3] = len(ub)
        rq[4] = o
        o += len(ub)
        rq[9] = len(ab)
        rq[10] = o
        o += len(ab)
        rq[15] = len(sb)
        rq[16] = o
        o += len(sb)
        rq[21] = len(cb)
        rq[22] = o
        self._run(fn)
        _, is_ok, ptr = _RESULT.unpack_from(_MEM, fn.res_addr)
        if not is_ok:
            raise _error(ptr)
        entries = _SIZE_PTR.unpack_from(_MEM, ptr + 8)[1]
        opt, cached, key_size, key_ptr = _DECISION.unpack_from(_MEM, entries)
        key = str(_MEM[key_ptr : key_ptr + key_size], "utf-8")
        if not opt:
            return None, cached, key
        size, data = _SIZE_PTR.unpack_from(_MEM, opt + 8)
        return str(_MEM[data : data + size], "utf-8"), cached, key

    def cache_key(self, user: str, action: str, resource: str, context: str) -> str:
        """`authorizer.cache-key`: the seed-format key."""
        fn = self._key
        parts = (user.encode(), action.encode(), resource.encode(), context.encode())
        self._set_request(fn, self._stage(b"".join(parts)), 0, parts)
        self._run(fn)
        _, is_ok, ptr = _RESULT.unpack_from(_MEM, fn.res_addr)
        if not is_ok:
            raise _error(ptr)
        size, data = _SIZE_PTR.unpack_from(_MEM, ptr + 8)
        return str(_MEM[data : data + size], "utf-8")

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
