"""Where the time of one call goes: a per-part breakdown, as Python sees it.

Each part of a call (JSON encoding, locking, deadline arming, packing the
arguments, the C API call into wasm, reading the result, decoding, and the
Python around them) is timed on its own with the same arguments the real
call uses, in batches, every part of every package interleaved round by
round so machine noise hits them alike. `rest` is the whole call minus its
parts: the wrappers. Prints Markdown tables: us per call, the best round
(the least disturbed by other work, as `timeit` advises) and the median.

    python bench/profile_call.py [--rounds 41] [--batch 500] [--package NAME ...]

`--package` (repeatable; default `sark_policy`) names the copies of the
package to profile side by side, say an older one unpacked under another
name: the internals timed here exist in both.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benches" / "evaluation" / "test_data"

Parts = dict[str, Callable[[], object]]
Tables = dict[str, Parts]  # title -> parts, the whole call first


def profile(parts: dict[Any, Callable[[], object]], rounds: int, batch: int
            ) -> dict[Any, tuple[float, float]]:
    """The best and the median over `rounds` of the mean time (us) of
    `batch` calls, per part."""
    samples: dict[Any, list[float]] = {key: [] for key in parts}
    for fn in parts.values():
        for _ in range(min(batch, 200)):
            fn()
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for key, fn in parts.items():
            t = clock()
            for _ in range(batch):
                fn()
            samples[key].append((clock() - t) / batch / 1000)
    return {key: (min(s), statistics.median(s)) for key, s in samples.items()}


def first_handle(owner: Any) -> int:
    """The resource handle in the first (or only) instance of `owner`."""
    return owner._handles[0] if hasattr(owner, "_handles") else owner._handle  # type: ignore[no-any-return]


def first_metrics(owner: Any) -> Any:
    """The metrics recorder of the first (or only) instance of `owner`."""
    return owner._metrics[0] if isinstance(owner._metrics, list) else owner._metrics


def tables_for(package: str) -> Tables:
    """The parts of an evaluation, a cached decision and a cache hit, with
    the internals of `package`."""
    sp = importlib.import_module(package)
    abi_mod = importlib.import_module(f"{package}._abi")
    json_mod = importlib.import_module(f"{package}._json")
    ttl_mod = importlib.import_module(f"{package}._ttl")
    authz_mod = importlib.import_module(f"{package}._authorizer")
    call, arm, mem = abi_mod._CALL, abi_mod._SET_DEADLINE, abi_mod._MEM
    result_s, q_s, size_ptr = abi_mod._RESULT, abi_mod._Q, abi_mod._SIZE_PTR
    to_ms, clock, perf = ttl_mod.to_ms, time.monotonic, time.perf_counter

    def c_call(fn: Any, abi: Any) -> Callable[[], object]:
        """The bare `wasmtime_component_func_call` of `fn`, arguments packed."""
        if hasattr(fn, "cargs"):  # prebuilt ctypes arguments
            return lambda: call(*fn.cargs)
        return lambda: call(fn.addr, abi._ctx, fn.args_addr, fn.nargs, fn.res_addr, fn.nres)

    def arming(abi: Any) -> Callable[[], None]:
        """What a call pays to arm its deadline: the FFI call, or where an
        armed deadline is kept for a tick, a clock check (and the FFI call
        once per tick)."""
        if not getattr(abi, "_rearm_ns", 0):
            return lambda: arm(abi._ctx, abi.ticks)
        now_ns = time.monotonic_ns

        def check() -> None:
            now = now_ns()
            if now >= abi._armed_until:
                arm(abi._ctx, abi.ticks)
                abi._armed_until = now + abi._rearm_ns

        return check

    def locking(lock: Any) -> Callable[[], None]:
        def enter_exit() -> None:
            with lock:
                pass

        return enter_exit

    text_at = getattr(abi_mod, "_text", None)  # newer: `true`/`false` without a decode

    def read_string(addr: int) -> str:
        size, data = size_ptr.unpack_from(mem, addr + 8)
        return text_at(size, data) if text_at else str(mem[data : data + size], "utf-8")

    # -- PolicyEngine.evaluate: regorus's rbac policy and input -----------
    engine = sp.PolicyEngine()
    engine.add_policy("rbac.rego", (DATA / "policies" / "rbac_policy.rego").read_text())
    inp = json.loads((DATA / "inputs" / "rbac_input.json").read_text())
    rule = "data.bench.allow"
    abi, handle = engine._sandbox.abi, first_handle(engine)
    text = json_mod.dumps(inp, "input")
    raw = abi.eval_rule(handle, rule, text)
    fn = abi._eval
    keep: list[bytes] = []  # what packed pointers point at, kept alive

    def pack() -> None:
        rb = rule.encode()
        ib = text if isinstance(text, bytes) else text.encode()
        q = fn.q
        q[1] = handle
        q[5] = len(rb)
        q[9] = len(ib)
        if hasattr(abi, "_stage"):  # older versions copy into an arena
            base = abi._stage(rb + ib)
            q[6] = base
            q[10] = base + len(rb)
        else:  # newer ones point at the bytes
            keep[:] = [rb, ib]
            q[6] = id(rb) + abi_mod._BYTES_AT
            q[10] = id(ib) + abi_mod._BYTES_AT

    def read_answer() -> str:
        ptr = result_s.unpack_from(mem, fn.res_addr)[2]
        return read_string(q_s.unpack_from(mem, ptr + 8)[0])

    pack()
    tables: Tables = {"`PolicyEngine.evaluate(\"data.bench.allow\", rbac_input)`": {
        "evaluate (whole call)": lambda: engine.evaluate(rule, inp),
        "JSON encoding of the input": lambda: json_mod.dumps(inp, "input"),
        "locking (sandbox lock)": locking(engine._sandbox.lock),
        "deadline arming": arming(abi),
        "packing the arguments": pack,
        "C API call (the wasm work)": c_call(fn, abi),
        "reading the result": read_answer,
        "decoding the answer": lambda: json_mod.loads(raw),
    }}

    # -- Authorizer.decide, a cached decision --------------------------------
    authz_engine = sp.PolicyEngine()
    authz_engine.add_policy("authz.rego", 'package authz\nallow if input.user == "alice"\n')
    authz = sp.Authorizer(authz_engine, "data.authz.allow")
    ctx = {"team": "blue", "ip": "10.0.0.7"}
    authz.decide("alice", "read", "doc", ctx)
    assert authz.decide("alice", "read", "doc", ctx).cached
    key = next(v for v in next(iter(authz._keys.values())) if isinstance(v, str))
    key_utf8 = key.encode()
    a_abi = authz_engine._sandbox.abi
    get = a_abi._get
    memo_fn = getattr(authz_mod, "_context_memo", json_mod.context_text)
    make = getattr(authz_mod, "_decision", authz_mod.Decision)
    ctx_memo = memo_fn(ctx)
    answer = a_abi.cache_get(first_handle(authz), key, 1)
    tables["`Authorizer.decide` (a cached decision)"] = {
        "decide (whole call)": lambda: authz.decide("alice", "read", "doc", ctx),
        "context memo": lambda: memo_fn(ctx),
        "key memo lookup": lambda: authz._keys.get(
            ("data.authz.allow", "alice", "read", "doc", ctx_memo)),
        "locking": locking(authz_engine._sandbox.lock),
        "clock": lambda: to_ms(clock()),
        "deadline arming": arming(a_abi),
        "packing the key": (lambda: a_abi._stage(key.encode())) if hasattr(a_abi, "_stage")
        else (lambda: id(key_utf8) + abi_mod._BYTES_AT),
        "C API call (the wasm work)": c_call(get, a_abi),
        "reading the result": lambda: read_string(q_s.unpack_from(mem, get.res_addr + 8)[0]),
        "decoding the answer": lambda: json_mod.loads(answer),
        "latency (2 perf_counter) and metric":
            lambda: first_metrics(authz).record(True, perf() - perf()),
        "the Decision object": lambda: make(True, True, 0.001, key),
    }

    # -- PolicyCache.get_sync, a hit ------------------------------------------
    cache = sp.PolicyCache()
    decision = {"allow": True, "reason": "user has permission"}
    cache.set_sync("alice", "read", "doc", decision, ctx)
    c_key = cache.cache_key("alice", "read", "doc", ctx)
    c_abi = cache._sandbox.abi
    stored = c_abi.cache_get(first_handle(cache), c_key, 1)
    loads = getattr(json_mod, "loads_exact", json_mod.loads)
    c_memo = json_mod.context_text(ctx)
    tables["`PolicyCache.get_sync` (a hit)"] = {
        "get_sync (whole call)": lambda: cache.get_sync("alice", "read", "doc", ctx),
        "context JSON": lambda: json_mod.context_text(ctx),
        "key memo lookup": lambda: cache._keys.get(("alice", "read", "doc", c_memo)),
        "locking": locking(cache._sandbox.lock),
        "clock": lambda: to_ms(clock()),
        "lean `cache_get` (deadline, packing, call, read)":
            lambda: c_abi.cache_get(first_handle(cache), c_key, 1),
        "decoding the value": lambda: loads(stored),
        "latency (2 perf_counter) and metric":
            lambda: first_metrics(cache).record(True, perf() - perf()),
    }
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--package", action="append")
    args = parser.parse_args()
    packages = args.package or ["sark_policy"]
    by_package = {p: tables_for(p) for p in packages}
    parts = {(p, title, name): fn for p, tables in by_package.items()
             for title, table in tables.items() for name, fn in table.items()}
    result = profile(parts, args.rounds, args.batch)
    print(f"# Per-part profile ({args.rounds} rounds x {args.batch} calls, parts and "
          "packages interleaved; us per call)")
    for title, table in by_package[packages[0]].items():
        print(f"\n### {title}\n")
        print("| part | " + " | ".join(f"{p} best | {p} median" for p in packages) + " |")
        print("| --- |" + " ---: | ---: |" * len(packages))
        names = list(table)
        for name in names:
            cells = [f"{result[p, title, name][i]:.2f}" for p in packages for i in (0, 1)]
            print(f"| {name} | " + " | ".join(cells) + " |")
        rest = [result[p, title, names[0]][i]
                - sum(result[p, title, n][i] for n in names[1:])
                for p in packages for i in (0, 1)]
        print("| rest (wrappers: the call minus its parts) | "
              + " | ".join(f"{r:.2f}" for r in rest) + " |")


if __name__ == "__main__":
    main()
