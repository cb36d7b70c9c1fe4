"""Envoy with the sark-policy filter against Envoy without it, in one run:
requests per second and p99 latency measured by wrk, for cache hits (one
request repeated) and cache misses (a new path every request), with the
example policy (HS256 JWT check + glob.match). Envoy answers itself
(direct_response), so the numbers are Envoy's and the filter's alone.

    make filter && .venv/bin/python benches/envoy/bench_envoy.py [seconds]
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "envoy"))
import harness  # noqa: E402
from test_envoy import SECRET, example_plugin, jwt  # noqa: E402

THREADS, CONNECTIONS = 1, 16
MISS_LUA = """
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/items/" .. n)
end
"""


def wrk(port: int, seconds: int, token: str, lua: str | None) -> dict[str, float]:
    cmd = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
           "-H", f"authorization: Bearer {token}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if lua:
            script.write(lua)
            script.flush()
            cmd += ["-s", script.name]
        cmd.append(f"http://127.0.0.1:{port}/api/items/1")
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "non2xx": float(non2xx.group(1)) if non2xx else 0}


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> int:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    ports = {n: harness.free_port() for n in ("admin", "plain", "filter")}
    plugin = example_plugin()
    config = harness.bootstrap(ports["admin"], harness.free_port(), [
        harness.listener("plain", ports["plain"], [], direct=True),
        harness.listener("filter", ports["filter"], [harness.wasm_filter(plugin)], direct=True),
    ])
    token = jwt({"sub": "alice", "role": "reader"}, SECRET)
    envoy = harness.Envoy(config, ports["admin"], concurrency=1)
    try:
        envoy.wait_ready()
        wrk(ports["filter"], 2, token, None)  # warm up the JIT
        rows = []
        for name, port, lua in [
            ("envoy, no filter", ports["plain"], None),
            ("envoy + sark-policy, cache hits", ports["filter"], None),
            ("envoy + sark-policy, cache misses", ports["filter"], MISS_LUA),
        ]:
            before = envoy.stats()
            r = wrk(port, seconds, token, lua)
            after = envoy.stats()
            delta = {k.rsplit(".", 1)[1]: after[k] - before.get(k, 0)
                     for k in after if k.startswith("wasmcustom.")}
            rows.append((name, r, delta))
            print(json.dumps({"case": name, **r, "counters": delta}), flush=True)
    finally:
        envoy.stop()
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
          f"{os.cpu_count()} cpus, envoy --concurrency 1, wrk -t{THREADS} -c{CONNECTIONS} -d{seconds}s\n")
    print("| case | req/s | p50 ms | p99 ms | filter hits | filter misses |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r, d in rows:
        print(f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
              f"| {d.get('cache_hits', 0)} | {d.get('cache_misses', 0)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
