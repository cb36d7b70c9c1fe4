"""Envoy with the sark-policy filter against Envoy without it, in one run:
requests per second and p99 latency measured by wrk, for cache hits (one
request repeated) and cache misses (a new path every request), with the
example policy (HS256 JWT check + glob.match). Envoy answers itself
(direct_response), so the numbers are Envoy's and the filter's alone.
Besides wrk's rates, the CPU time Envoy's process used per request (from
/proc, user + system) is printed: on a shared machine it varies less than
req/s, which also depends on how much CPU wrk got.

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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
            before, cpu_before = envoy.stats(), cpu_seconds(envoy.proc.pid)
            r = wrk(port, seconds, token, lua)
            after, cpu_after = envoy.stats(), cpu_seconds(envoy.proc.pid)
            r["cpu_us"] = (cpu_after - cpu_before) * 1e6 / max(r["rps"] * seconds, 1.0)
            delta = {k.rsplit(".", 1)[1]: after[k] - before.get(k, 0)
                     for k in after if k.startswith("wasmcustom.")}
            rows.append((name, r, delta))
            print(json.dumps({"case": name, **r, "counters": delta}), flush=True)
    finally:
        envoy.stop()
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
          f"{os.cpu_count()} cpus, envoy --concurrency 1, wrk -t{THREADS} -c{CONNECTIONS} -d{seconds}s\n")
    print("| case | req/s | p50 ms | p99 ms | Envoy CPU µs/req | filter hits | filter misses |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r, d in rows:
        print(f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['cpu_us']:.0f} "
              f"| {d.get('cache_hits', 0)} | {d.get('cache_misses', 0)} |")
    plain = rows[0][1]
    print()
    for name, r, _ in rows[1:]:
        print(f"{name}: {r['rps'] / plain['rps']:.2f}x req/s, "
              f"{plain['cpu_us'] / r['cpu_us']:.2f}x by Envoy CPU per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
