"""The Python host against its two speed targets, contenders interleaved.

1. `PolicyEngine.evaluate` against native regorus's own Python bindings
   (PyPI `celine-regorus`, module `regorus`: `set_input` + `eval_rule`) on
   regorus's nine benchmark policies (rule `data.bench.allow`, the three
   inputs of each in turn; input a Python dict, answer a Python value).
   Target: geometric mean of the p50 ratios at most 1.0. The column "C
   call only" is the floor: the bare `wasmtime_component_func_call` of
   `eval-rule` with its arguments packed beforehand (no JSON, no lock, no
   deadline, no decoding).
2. Cached hits, `Authorizer.decide` and `PolicyCache.get`, against a Redis
   GET + `json.loads` on loopback (redis-server started here when it is
   installed). Target: at most 1/12.5 of the Redis p50.

Every contender of a table runs in this one process, in rounds (each round
times a batch of single calls of every contender, in rotating order), so
machine noise hits them alike. `--baseline NAME` adds a second copy of the
package, importable as NAME (say the previous commit's, unpacked under
another name), to each table. Prints Markdown; p50 / p99 in us.

    python bench/bench_targets.py [--rounds 30] [--batch 100] [--baseline NAME]
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import regorus

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benches" / "evaluation" / "test_data"
POLICIES = ["rbac", "api_access", "data_sensitivity", "time_based", "data_processing",
            "azure_vm", "azure_storage", "azure_keyvault", "azure_nsg"]
RULE = "data.bench.allow"

Stats = tuple[float, float]  # p50, p99 in microseconds


def measure(contenders: dict[str, Callable[[], object]], rounds: int, batch: int
            ) -> dict[str, Stats]:
    """p50 and p99 of single calls, contenders interleaved round by round."""
    names = list(contenders)
    samples: dict[str, list[int]] = {n: [] for n in names}
    clock = time.perf_counter_ns
    for fn in contenders.values():
        for _ in range(min(batch, 50)):
            fn()
    for r in range(rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            fn, out = contenders[n], samples[n]
            for _ in range(batch):
                t0 = clock()
                fn()
                out.append(clock() - t0)
    result = {}
    for n, s in samples.items():
        s.sort()
        result[n] = (s[len(s) // 2] / 1000, s[min(len(s) - 1, int(len(s) * 0.99))] / 1000)
    return result


def cycle(fn: Callable[[Any], object], inputs: list[Any]) -> Callable[[], object]:
    """A call of `fn` on the next of `inputs`, round robin."""
    it = [0]

    def call() -> object:
        it[0] = (it[0] + 1) % len(inputs)
        return fn(inputs[it[0]])

    return call


def bare_call(engine: Any, inputs: list[Any]) -> Callable[[], object]:
    """The bare C API call of `eval-rule` on the next of `inputs` (packed
    beforehand, pointers into bytes kept alive here)."""
    abi_mod = importlib.import_module("sark_policy._abi")
    json_mod = importlib.import_module("sark_policy._json")
    abi, fn = engine._sandbox.abi, engine._sandbox.abi._eval
    rule = RULE.encode()
    texts = [json_mod.dumps(inp) for inp in inputs]
    call, at = abi_mod._CALL, abi_mod._BYTES_AT

    def one(text: bytes) -> object:
        q = fn.q
        q[1] = engine._handles[0]
        q[5] = len(rule)
        q[6] = id(rule) + at
        q[9] = len(text)
        q[10] = id(text) + at
        return call(*fn.cargs)

    abi.eval_rule(engine._handles[0], RULE, texts[0])  # compiled, deadline armed
    return cycle(one, texts)


def evaluation(packages: dict[str, ModuleType], rounds: int, batch: int) -> None:
    names = [*packages, "C call only", "regorus"]
    print("## `PolicyEngine.evaluate` vs native regorus (`celine-regorus`)\n")
    ratioed = [*packages, "C call only"]
    print("| policy | " + " | ".join(names) + " | " + " | ".join(
        f"{n}/regorus" for n in ratioed) + " |")
    print("| --- |" + " ---: |" * (len(names) + len(ratioed)))
    ratios: dict[str, list[float]] = {n: [] for n in ratioed}
    for policy in POLICIES:
        source = (DATA / "policies" / f"{policy}_policy.rego").read_text()
        inputs = [json.loads((DATA / "inputs" / f"{policy}_input{n}.json").read_text())
                  for n in ("", "2", "3")]
        native = regorus.Engine()
        native.add_policy("policy.rego", source)

        def regorus_eval(inp: Any, native: Any = native) -> Any:
            native.set_input(inp)
            return native.eval_rule(RULE)

        contenders: dict[str, Callable[[], object]] = {}
        for name, pkg in packages.items():
            engine = pkg.PolicyEngine()
            engine.add_policy("policy.rego", source)
            for inp in inputs:
                assert engine.evaluate(RULE, inp) == regorus_eval(inp), (policy, name)
            contenders[name] = cycle(lambda inp, e=engine: e.evaluate(RULE, inp), inputs)
            if name == "sark_policy":
                contenders["C call only"] = bare_call(engine, inputs)
        contenders["regorus"] = cycle(regorus_eval, inputs)
        st = measure(contenders, rounds, batch)
        for n in ratioed:
            ratios[n].append(st[n][0] / st["regorus"][0])
        cells = [f"{st[n][0]:.1f} / {st[n][1]:.1f}" for n in names]
        cells += [f"{ratios[n][-1]:.2f}" for n in ratioed]
        print(f"| {policy} | " + " | ".join(cells) + " |")
    for n, rs in ratios.items():
        geo = math.exp(sum(map(math.log, rs)) / len(rs))
        print(f"\nGeometric mean of {n}/regorus (p50) over the nine: **{geo:.2f}** (target <= 1.0)")
    print()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[Any]:
    """A redis-py client of a redis-server on loopback (no persistence),
    stopped on exit; None when redis-server or redis-py is missing."""
    try:
        import redis
    except ImportError:
        yield None
        return
    if shutil.which("redis-server") is None:
        yield None
        return
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        yield client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def cached(packages: dict[str, ModuleType], rounds: int, batch: int) -> None:
    source = (ROOT / "examples" / "authz.rego").read_text()
    data = json.loads((ROOT / "examples" / "data.json").read_text())
    req = ("carol", "execute", "tool:deploy", {"mfa": True})
    value = {"allow": True, "reason": "user has permission"}
    contenders: dict[str, Callable[[], object]] = {}
    for name, pkg in packages.items():
        engine = pkg.PolicyEngine()
        engine.add_policy("authz.rego", source)
        engine.add_data(data)
        authz = pkg.Authorizer(engine, "data.authz.allow")
        authz.decide(*req, ttl_seconds=3600)
        assert authz.decide(*req).cached
        cache = pkg.PolicyCache()
        cache.set_sync(*req[:3], value, req[3], ttl_seconds=3600)
        assert cache.get_sync(*req[:3], req[3]) == value
        contenders[f"{name} `Authorizer.decide`"] = lambda a=authz: a.decide(*req)
        contenders[f"{name} `PolicyCache.get_sync`"] = (
            lambda c=cache: c.get_sync(*req[:3], req[3]))
    with redis_server() as r:
        if r is not None:
            r.set("policy:decision:carol:execute:tool:deploy:0", json.dumps(value), ex=3600)
            contenders["Redis GET + json.loads"] = (
                lambda: json.loads(r.get("policy:decision:carol:execute:tool:deploy:0")))
        st = measure(contenders, rounds, batch * 2)
    print("## Cached hits vs Redis GET + `json.loads` on loopback\n")
    redis_p50 = st.get("Redis GET + json.loads", (math.nan, math.nan))[0]
    print("| call | p50 us | p99 us | Redis p50 / p50 |\n| --- | ---: | ---: | ---: |")
    for n, (p50, p99) in st.items():
        print(f"| {n} | {p50:.2f} | {p99:.2f} | {redis_p50 / p50:.1f} |")
    print(f"\nTarget: at least 12.5 (p50 at most {redis_p50 / 12.5:.2f} us).\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--baseline", help="another copy of the package, by import name")
    parser.add_argument("--only", choices=["evaluation", "cached"])
    args = parser.parse_args()
    packages = {"sark_policy": importlib.import_module("sark_policy")}
    if args.baseline:
        packages[args.baseline] = importlib.import_module(args.baseline)
    if args.only != "cached":
        evaluation(packages, args.rounds, args.batch)
    if args.only != "evaluation":
        cached(packages, args.rounds, args.batch)


if __name__ == "__main__":
    main()
