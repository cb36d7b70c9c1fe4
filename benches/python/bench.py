"""sark_policy from Python against the contenders a Python user would pick:
native regorus's own Python bindings (PyPI celine-regorus, module `regorus`)
and Go OPA in process (opa-golib-python-bindings) for evaluation, Redis on
loopback (GET + json.loads) and cachetools' TTLCache for cached decisions.

Every contender of a table runs in this one process, interleaved in rounds
(each round times a batch of single calls of every contender, in rotating
order), so machine noise hits them alike and their ratios hold. Prints
markdown tables of p50 and p99 per call. SARK_BENCH_QUICK=1: a few calls.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.environ["OPA_SITE"])

import cachetools  # noqa: E402
import redis  # noqa: E402
import regorus  # noqa: E402
from opa_bindings import OpaEngine  # noqa: E402

import sark_policy  # noqa: E402
from sark_policy import Authorizer, PolicyEngine  # noqa: E402

QUICK = bool(os.environ.get("SARK_BENCH_QUICK"))
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benches" / "evaluation" / "test_data"
POLICIES = ["rbac", "api_access", "data_sensitivity", "time_based", "data_processing",
            "azure_vm", "azure_storage", "azure_keyvault", "azure_nsg"]
ROUNDS, BATCH = (2, 3) if QUICK else (int(os.environ.get("SARK_BENCH_ROUNDS", "30")), 100)

Stats = tuple[float, float]  # p50, p99 in microseconds


def measure(contenders: dict[str, Callable[[], Any]], rounds: int = ROUNDS,
            batch: int = BATCH) -> dict[str, Stats]:
    """p50 and p99 of single calls, contenders interleaved round by round."""
    names = list(contenders)
    samples: dict[str, list[int]] = {n: [] for n in names}
    clock = time.perf_counter_ns
    for fn in contenders.values():  # warm up
        for _ in range(min(batch, 20)):
            fn()
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
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


def row(label: str, stats: dict[str, Stats], names: list[str]) -> str:
    cells = [f"{stats[n][0]:.1f} / {stats[n][1]:.1f}" for n in names]
    return f"| {label} | " + " | ".join(cells) + " |"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """redis-server on loopback on a free port, no persistence; stopped on
    exit."""

    def __enter__(self) -> redis.Redis:
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port)
        for _ in range(200):
            try:
                client.ping()
                return client
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def evaluation() -> None:
    print("## Evaluation: sark_policy `PolicyEngine.evaluate` vs native regorus "
          "(`celine-regorus`: `set_input` + `eval_rule`) vs Go OPA in process "
          "(`OpaEngine.eval_document`)\n")
    print("Input a Python dict, answer a Python value; the three inputs of each "
          "policy in turn. p50 / p99 in us.\n")
    names = ["sark_policy", "regorus", "opa"]
    print("| policy | sark_policy | regorus | OPA | sark/regorus (p50) | sark/OPA (p50) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    ratios, ratios_reg = [], []
    cases: list[tuple[str, str, list[Any], str, str, Any]] = []
    for name in POLICIES:
        src = (DATA / "policies" / f"{name}_policy.rego").read_text()
        inputs = [json.loads((DATA / "inputs" / f"{name}_input{n}.json").read_text())
                  for n in ("", "2", "3")]
        cases.append((name, src, inputs, "data.bench.allow", "bench.allow", None))
    authz_src = (ROOT / "examples" / "authz.rego").read_text()
    authz_data = json.loads((ROOT / "examples" / "data.json").read_text())
    authz_inputs = [
        {"user": "carol", "action": "execute", "resource": "tool:deploy", "context": {"mfa": True}},
        {"user": "bob", "action": "read", "resource": "dataset:sales", "context": {}},
        {"user": "mallory", "action": "read", "resource": "dataset:ops", "context": {}},
    ]
    cases.append(("authz (example)", authz_src, authz_inputs, "data.authz.allow", "authz.allow",
                  authz_data))
    for name, src, inputs, rule, opa_path, data in cases:
        sark = PolicyEngine()
        sark.add_policy("policy.rego", src)
        opa = OpaEngine()
        opa.add_policy("policy.rego", src)
        native = regorus.Engine()
        native.add_policy("policy.rego", src)
        if data is not None:
            sark.add_data(data)
            opa.add_data(data)
            native.add_data(data)
        # celine-regorus's `set_input(dict)` turns Python's True into the number
        # 1 (bool is an int), so `input.context.mfa == true` fails; the example,
        # which has booleans in its inputs, goes through `set_input_json`.
        as_json = data is not None

        def native_input(inp: Any) -> None:
            if as_json:
                native.set_input_json(json.dumps(inp))
            else:
                native.set_input(inp)

        for inp in inputs:
            want = opa.eval_document(opa_path, inp)
            assert sark.evaluate(rule, inp) == want, name
            native_input(inp)
            assert native.eval_rule(rule) == want, name
        it = [0]

        def s() -> Any:
            it[0] = (it[0] + 1) % 3
            return sark.evaluate(rule, inputs[it[0]])

        def o() -> Any:
            it[0] = (it[0] + 1) % 3
            return opa.eval_document(opa_path, inputs[it[0]])

        def g() -> Any:
            it[0] = (it[0] + 1) % 3
            native_input(inputs[it[0]])
            return native.eval_rule(rule)

        st = measure({"sark_policy": s, "regorus": g, "opa": o})
        ratio = st["sark_policy"][0] / st["opa"][0]
        ratio_reg = st["sark_policy"][0] / st["regorus"][0]
        if name in POLICIES:
            ratios.append(ratio)
            ratios_reg.append(ratio_reg)
        print(row(name, st, names) + f" {ratio_reg:.2f} | {ratio:.2f} |")
        sark.close()
        opa.close()
    geo = math.exp(sum(map(math.log, ratios)) / len(ratios))
    geo_reg = math.exp(sum(map(math.log, ratios_reg)) / len(ratios_reg))
    print(f"\nGeometric means over the nine regorus policies: sark/regorus **{geo_reg:.2f}** "
          f"(target <= 1.0), sark/OPA **{geo:.2f}** (target <= 0.25)\n")


def seed_key(user: str, action: str, resource: str, context: dict[str, Any]) -> str:
    """What a Python gateway builds to key Redis or cachetools: the seed
    format with SHA-256 over the canonical JSON of the context."""
    canon = json.dumps(context, sort_keys=True, separators=(",", ":"))
    h = hashlib.sha256(canon.encode()).hexdigest()[:16]
    return f"policy:decision:{user}:{action}:{resource}:{h}"


def decisions(r: redis.Redis) -> None:
    src = (ROOT / "examples" / "authz.rego").read_text()
    data = json.loads((ROOT / "examples" / "data.json").read_text())
    engine = PolicyEngine()
    engine.add_policy("authz.rego", src)
    engine.add_data(data)
    authz = Authorizer(engine, "data.authz.allow", max_size=10000)
    req = ("carol", "execute", "tool:deploy", {"mfa": True})
    empty = ("bob", "read", "dataset:sales", None)
    value = {"allow": True}
    d = authz.decide(*req, ttl_seconds=3600)
    assert d.value is True and not d.cached
    assert authz.decide(*req, ttl_seconds=3600).cached
    authz.decide(*empty, ttl_seconds=3600)
    key = seed_key(*req)
    r.set(key, json.dumps(value), ex=3600)
    ttl = cachetools.TTLCache(maxsize=10000, ttl=3600)
    ttl[key] = value
    memo = ("data.authz.allow", "carol", "execute", "tool:deploy", json.dumps(req[3]))
    # Never stored (TTL 0): every call misses and evaluates.
    miss = ("carol", "execute", "tool:deploy", {"mfa": True, "n": 1})
    memo_miss = ("data.authz.allow", *miss[:3], json.dumps(miss[3]))
    memo_empty = ("data.authz.allow", "bob", "read", "dataset:sales", "")

    print("## Cached decide: sark_policy vs Redis on loopback vs cachetools\n")
    print("A decision stored before; p50 / p99 in us. `decide` is the public call "
          "(with the per-request key memo: one `cache.get` crossing); `decide, no memo` "
          "is the plain one-crossing `authorizer.decide`. Redis: `GET` + `json.loads` "
          "of a precomputed key; cachetools: `TTLCache.get`, precomputed key or with "
          "the seed key built in Python.\n")
    contenders: dict[str, Callable[[], Any]] = {
        "sark decide": lambda: authz.decide(*req),
        "sark decide, no memo": lambda: authz._decide(memo, None, None, None, time.perf_counter()),
        "sark decide {} ctx": lambda: authz.decide(*empty),
        "sark decide {} ctx, no memo": lambda: authz._decide(memo_empty, None, None, None,
                                                             time.perf_counter()),
        "redis GET+loads": lambda: json.loads(r.get(key)),  # type: ignore[arg-type]
        "cachetools get": lambda: ttl.get(key),
        "cachetools key+get": lambda: ttl.get(seed_key(*req)),
    }
    st = measure(contenders, batch=BATCH * 2)
    assert authz.decide(*req).cached
    print("| operation | p50 us | p99 us | vs Redis GET (p50) |")
    print("| --- | ---: | ---: | ---: |")
    redis_p50 = st["redis GET+loads"][0]
    for n, (p50, p99) in st.items():
        print(f"| {n} | {p50:.2f} | {p99:.2f} | {p50 / redis_p50:.3f} |")
    print(f"\nTarget: sark cached decide <= 1/12.5 of a Redis GET = {redis_p50 / 12.5:.2f} us.\n")

    print("## Uncached decide: sark_policy miss vs OPA evaluation\n")
    opa = OpaEngine()
    opa.add_policy("authz.rego", src)
    opa.add_data(data)
    inp = {"user": req[0], "action": req[1], "resource": req[2], "context": req[3]}
    assert opa.eval_document("authz.allow", inp) is True
    st = measure({
        "sark decide (miss)": lambda: authz.decide(*miss, ttl_seconds=0),
        "sark decide (miss), no memo": lambda: authz._decide(memo_miss, None, None, 0,
                                                             time.perf_counter()),
        "sark evaluate": lambda: engine.evaluate("data.authz.allow", inp),
        "opa eval_document": lambda: opa.eval_document("authz.allow", inp),
    })
    print("| operation | p50 us | p99 us | vs OPA (p50) |")
    print("| --- | ---: | ---: | ---: |")
    opa_p50 = st["opa eval_document"][0]
    for n, (p50, p99) in st.items():
        print(f"| {n} | {p50:.2f} | {p99:.2f} | {p50 / opa_p50:.3f} |")
    print()
    opa.close()
    engine.close()


def main() -> None:
    import platform

    print(f"# Python bench ({'quick' if QUICK else 'full'}): Python {platform.python_version()}, "
          f"sark_policy {sark_policy.__version__}, redis-py {redis.__version__}, "
          f"cachetools {cachetools.__version__}, {ROUNDS} rounds x {BATCH} calls\n")
    evaluation()
    with RedisServer() as r:
        decisions(r)


if __name__ == "__main__":
    main()
