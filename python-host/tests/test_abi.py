"""The lean call path: signatures, equivalence with wasmtime-py's public
path, buffers, and the pinned wasmtime version it depends on."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any
from unittest.mock import ANY

import pytest
from wasmtime import Store, WasiConfig
from wasmtime.component import Instance, Record, ResourceAny, Variant

from sark_policy import InvalidJsonError, NotFoundError, _abi
from sark_policy._abi import SIGNATURES, WASMTIME_VERSION, Bindings, render_func_type
from sark_policy._runtime import runtime


def _instance() -> tuple[Store, Instance, Bindings]:
    rt = runtime()
    store = Store(rt.engine)
    store.set_wasi(WasiConfig())
    store.set_epoch_deadline(1 << 40)
    instance = rt.linker.instantiate(store, rt.component)
    abi = Bindings(store, instance)
    abi.ticks = 1 << 40
    return store, instance, abi


def _public(store: Store, instance: Instance, name: str, *args: Any) -> Any:
    iface, export = SIGNATURES[name][:2]
    parent = instance.get_export_index(store, iface)
    func = instance.get_func(store, instance.get_export_index(store, export, parent))  # type: ignore[arg-type]
    assert func is not None
    return func(store, *args)


def _request(user: str, action: str, resource: str, context: str) -> Record:
    r = Record()
    r.user, r.action, r.resource, r.context = user, action, resource, context
    return r


def test_pinned_wasmtime_version() -> None:
    assert version("wasmtime") == WASMTIME_VERSION == "50.0.1"


def test_every_signature_matches_the_component() -> None:
    store, instance, _ = _instance()
    for name, (iface, export, expected, kinds, _lift) in SIGNATURES.items():
        parent = instance.get_export_index(store, iface)
        func = instance.get_func(store, instance.get_export_index(store, export, parent))  # type: ignore[arg-type]
        assert func is not None, name
        assert render_func_type(func.type(store)) == expected, name
        assert len(func.type(store).params) == len(kinds), name


def test_a_changed_signature_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    iface, export, _sig, kinds, lift = SIGNATURES["cache.size"]
    monkeypatch.setitem(SIGNATURES, "cache.size", (iface, export, "(self: borrow) -> u32", kinds, lift))
    monkeypatch.setattr(_abi, "_checked", False)
    with pytest.raises(ImportError, match="cache.size: expected"):
        _instance()


def test_lean_calls_match_the_public_path() -> None:
    store, instance, abi = _instance()
    engine = abi.new_engine()
    h = abi.handle(engine)
    source = 'package t\nallow if input.user == "a"\nv := input\n'
    assert abi.call("engine.add-policy", h, "t.rego", source) == "data.t"
    for rule, inp in [("data.t.allow", '{"user":"a"}'), ("data.t.allow", '{"user":"b"}'),
                      ("data.t.v", '{"x":[1,"é"]}'), ("data.t.v", "")]:
        assert abi.eval_rule(h, rule, inp) == _public(store, instance, "engine.eval-rule",
                                                      engine, rule, inp)
    bad = _public(store, instance, "engine.eval-rule", engine, "data.t.v", "{")
    assert isinstance(bad, Variant) and bad.tag == "invalid-json"
    with pytest.raises(InvalidJsonError, match=str(bad.payload)):
        abi.eval_rule(h, "data.t.v", "{")
    with pytest.raises(NotFoundError):
        abi.call("engine.remove-policy", h, "missing.rego")

    cache = abi.new_cache(10)
    c = abi.handle(cache)
    abi.cache_set(c, "k", '{"a":1}', 0, 100)
    assert abi.cache_get(c, "k", 5) == _public(store, instance, "cache.get", cache, "k", 5) == '{"a":1}'
    assert abi.cache_get(c, "missing", 5) is None
    assert abi.call("cache.stats", c) == (2, 1, 0, 0, 1, 10)

    for req in [("a", "read", "doc", ""), ("ü:x", "r", "d", '{"z":1,"a":[true]}')]:
        public_key = _public(store, instance, "cache-key", _request(*req))
        assert abi.cache_key(*req) == public_key
        lean = abi.decide(h, c, "data.t.allow", *req, 10, 20)
        public = _public(store, instance, "decide", engine, cache, "data.t.allow",
                         _request(*req), 10, 20)
        assert lean == (public.value, False, public.key) and public.cached  # hit the lean entry
        assert lean[2].startswith(public_key)
    assert abi.call("engine.limits", h) == (64, 16 << 20)
    assert abi.call("engine.policies", h) == ["t.rego"]


def test_result_slots_are_freed_on_close() -> None:
    _, _, abi = _instance()
    cache = abi.new_cache(4)  # the handle is valid while this lives
    c = abi.handle(cache)
    abi.cache_set(c, "k", '"v"', 0, 100)
    assert abi.cache_get(c, "k", 1) == '"v"'
    slot = abi._get.res
    assert slot[0] != 0  # holds the last option<string> until the next call
    abi.close()
    assert bytes(slot) == bytes(32)


def test_large_arguments_pass_whole() -> None:
    _, _, abi = _instance()
    cache = abi.new_cache(4)
    c = abi.handle(cache)
    big = '"' + "x" * 100_000 + '"'
    abi.cache_set(c, "big", big, 0, 100)
    assert abi.cache_get(c, "big", 1) == big


def test_eval_options_and_stats_match_the_public_path() -> None:
    store, instance, abi = _instance()
    engine = abi.new_engine()
    h = abi.handle(engine)
    abi.call("engine.add-policy", h, "t.rego",
             'package t\nr := x if { x := data.t.b with input as 2 }\nb := input\ns := 1\n')
    abi.eval_rule(h, "data.t.r", "")
    abi.eval_rule(h, "data.t.s", b"")
    abi.call("engine.eval-query", h, "x := 1", "")
    public = _public(store, instance, "engine.eval-stats", engine)
    assert abi.call("engine.eval-stats", h) == (
        public.rvm,
        [(i.reason, i.count) for i in public.interpreted],
        public.compiled,
        [(f.rule, f.reason, f.message) for f in public.fallbacks],
    ) == (1, [("query", 1), ("with-keyword", 1)], 1, [("data.t.r", "with-keyword", ANY)])

    abi.call("engine.set-eval-options", h, (True, 77))
    public = _public(store, instance, "engine.eval-options", engine)
    assert abi.call("engine.eval-options", h) == (
        getattr(public, "interpreter-only"), getattr(public, "max-instructions")) == (True, 77)
    options = Record()
    setattr(options, "interpreter-only", False)
    setattr(options, "max-instructions", 1 << 63)
    _public(store, instance, "engine.set-eval-options", engine, options)
    assert abi.call("engine.eval-options", h) == (False, 1 << 63)


def test_an_armed_deadline_is_kept_for_one_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = runtime()
    store = Store(rt.engine)
    store.set_wasi(WasiConfig())
    store.set_epoch_deadline(1 << 40)
    abi = Bindings(store, rt.linker.instantiate(store, rt.component), rearm_ns=5_000_000)
    abi.ticks = 1 << 40
    now = [10**12]
    armed: list[int] = []
    real_arm = _abi._SET_DEADLINE
    monkeypatch.setattr(_abi, "_now_ns", lambda: now[0])
    monkeypatch.setattr(_abi, "_SET_DEADLINE", lambda ctx, ticks: armed.append(ticks)
                        or real_arm(ctx, ticks))
    c = abi.handle(cache := abi.new_cache(4))
    abi.cache_get(c, "k", 1)
    now[0] += 4_999_999
    abi.cache_get(c, "k", 1)
    abi.call("cache.size", c)
    assert armed == [1 << 40]  # within the tick: kept
    now[0] += 1
    abi.cache_get(c, "k", 1)
    assert armed == [1 << 40] * 2  # a tick later: armed again
    abi.ticks = (1 << 40) + 1
    abi.cache_get(c, "k", 1)
    assert armed == [1 << 40] * 2 + [(1 << 40) + 1]  # new ticks: armed at once
    abi.drop(cache)


def test_resources_via_public_path() -> None:
    _, _, abi = _instance()
    cache = abi.new_cache(1)
    assert isinstance(cache, ResourceAny) and abi.handle(cache) > 0
    abi.drop(cache)
