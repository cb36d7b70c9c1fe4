"""Tables of medians and ratios from criterion's saved estimates
(target/criterion/*/new/estimates.json), for benches/RESULTS.md.

    python3 benches/report.py [target/criterion]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")


def median(*parts: str) -> float | None:
    """Median in nanoseconds, or None when the bench did not run."""
    f = root.joinpath(*parts, "new", "estimates.json")
    if not f.exists():
        return None
    return float(json.loads(f.read_text())["median"]["point_estimate"])


def fmt(ns: float | None) -> str:
    if ns is None:
        return "-"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} us"
    return f"{ns:.0f} ns"


POLICIES = ["rbac", "api_access", "data_sensitivity", "time_based", "data_processing",
            "azure_vm", "azure_storage", "azure_keyvault", "azure_nsg"]

print("### Evaluation: component vs native (median per `eval-rule`, JSON in, JSON out)\n")
print("component and core evaluate on the RVM (the default path); *interp* is the core\n"
      "with `interpreter-only`; regorus native is plain regorus's interpreter, regorus RVM\n"
      "plain regorus on its RVM.\n")
print("| policy | component | core native | core interp | regorus native | regorus RVM | "
      "component / regorus | core / regorus | core interp / regorus |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
r_reg, r_core, r_interp = [], [], []
for p in POLICIES + ["authz"]:
    group = ("authz_eval",) if p == "authz" else (f"eval_{p}",)
    c, n, ni, g, gr = (median(*group, k) for k in (
        "component", "core-native", "core-native-interpreter", "regorus-native",
        "regorus-native-rvm"))
    if None in (c, n, g):
        continue
    assert c and n and g
    if p != "authz":
        r_reg.append(c / g)
        r_core.append(n / g)
        if ni:
            r_interp.append(ni / g)
    label = "authz (example)" if p == "authz" else p
    ratio_i = f"{ni / g:.2f}" if ni else "-"
    print(f"| {label} | {fmt(c)} | {fmt(n)} | {fmt(ni)} | {fmt(g)} | {fmt(gr)} | "
          f"{c / g:.2f} | {n / g:.2f} | {ratio_i} |")
if r_reg:
    geo = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs))  # noqa: E731
    gi = f"**{geo(r_interp):.2f}**" if r_interp else "-"
    print(f"| **geometric mean (9 regorus policies)** | | | | | | **{geo(r_reg):.2f}** | "
          f"**{geo(r_core):.2f}** | {gi} |")

print("\n### Decide, cache, start (median)\n")
print("| operation | component (Rust host) | core native | ratio |")
print("| --- | ---: | ---: | ---: |")
rows = [
    ("decide, hit (context `{\"mfa\":true}`)", ("authz_decide-hit", "component"),
     ("authz_decide-hit", "core-native")),
    ("decide, hit (empty context)", ("authz_decide-hit", "component-empty-context"),
     ("authz_decide-hit", "core-native-empty-context")),
    ("decide, miss (evaluates)", ("authz_decide-miss", "component"),
     ("authz_decide-miss", "core-native")),
    ("cache get (hit)", ("cache_get", "component"), ("cache_get", "core-native")),
    ("cache set (overwrite)", ("cache_set", "component"), ("cache_set", "core-native")),
    ("cache set with eviction", ("cache_set-evict", "component"),
     ("cache_set-evict", "core-native")),
]
for label, a, b in rows:
    x, y = median(*a), median(*b)
    ratio = f"{x / y:.1f}" if x and y else "-"
    print(f"| {label} | {fmt(x)} | {fmt(y)} | {ratio} |")
for label, parts in [
    ("start from the compiled artifact: runtime + first instance",
     ("start", "artifact", "runtime+instance")),
    ("start: one more instance (engine) from a loaded runtime", ("start", "artifact", "instance")),
]:
    print(f"| {label} | {fmt(median(*parts))} | | |")
