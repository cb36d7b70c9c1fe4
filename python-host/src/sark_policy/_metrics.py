"""Lookup metrics in the seed's shape, latency percentiles, Prometheus text
(also of the engine's evaluation paths, with the Rust host's names).

Callers update a `Metrics` while holding the sandbox lock, so the counters
need no lock of their own: a pool keeps one per instance and merges them
(`Metrics.combined`) to report.
"""

from __future__ import annotations

from array import array
from typing import Any

__all__ = ["Metrics", "prometheus_text", "prometheus_eval_text"]

_WINDOW = 4096  # latencies kept for percentiles (a power of two: masked index)


class Metrics:
    """Hit/miss counters and the latencies of the most recent lookups.

    Percentiles cover the last 4096 lookups; the average covers every
    lookup since creation or the last `reset`.
    """

    __slots__ = ("misses", "_total_s", "_lat", "_n", "base_recycles", "base_timeouts")

    def __init__(self) -> None:
        self.misses = 0
        self._total_s = 0.0
        self._lat = array("d", bytes(8 * _WINDOW))
        self._n = 0
        # Sandbox counters are lifetime totals; reset() remembers them here.
        self.base_recycles = 0
        self.base_timeouts = 0

    @property
    def hits(self) -> int:
        """Lookups that found a live entry."""
        return self._n - self.misses

    def record(self, hit: bool, seconds: float) -> None:
        """Counts one lookup that took `seconds` (once per request: kept to
        four updates)."""
        if not hit:
            self.misses += 1
        self._total_s += seconds
        self._lat[self._n & (_WINDOW - 1)] = seconds
        self._n += 1

    def reset(self, recycles: int, timeouts: int) -> None:
        """Zeroes everything; `recycles` / `timeouts` are the sandbox's
        lifetime totals now, reported from here on as the new zero."""
        self.misses = self._n = 0
        self._total_s = 0.0
        self.base_recycles = recycles
        self.base_timeouts = timeouts

    def copy(self) -> Metrics:
        """A snapshot of this recorder (take it under the lock)."""
        return Metrics.combined([self])

    @classmethod
    def combined(cls, parts: list[Metrics]) -> Metrics:
        """A recorder to report from (not to record into) holding the sums
        of `parts` (per-instance recorders of a pool, each copied under its
        lock) and the latest latencies of each, for percentiles over all of
        them."""
        m = cls()
        latencies = array("d")
        for p in parts:
            m.misses += p.misses
            m._n += p._n
            m._total_s += p._total_s
            m.base_recycles += p.base_recycles
            m.base_timeouts += p.base_timeouts
            latencies.extend(p._lat[: min(p._n, _WINDOW)])
        m._lat = latencies  # for reading only: `record` needs a full window
        return m

    @property
    def total_seconds(self) -> float:
        """Sum of all lookup latencies since creation or the last reset."""
        return self._total_s

    def _percentile_ms(self, ordered: list[float], p: float) -> float:
        if not ordered:
            return 0.0
        index = min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))
        return round(ordered[index] * 1000, 4)

    def snapshot(self, *, evictions: int, recycles: int, timeouts: int) -> dict[str, Any]:
        """The metrics dict: the seed's keys (`hits`, `misses`,
        `total_requests`, `evictions`, `hit_rate`, `miss_rate` as
        percentages rounded to 2 places, `avg_cache_latency_ms`) plus
        `p50/p95/p99_latency_ms`, `recycles` and `timeouts`.

        Latencies are rounded to 4 places (0.1 us), not the seed's 2, which
        would print every in-process lookup as 0.0.
        """
        total = self.hits + self.misses
        hit_rate = self.hits / total * 100 if total else 0.0
        ordered = sorted(self._lat[: min(self._n, len(self._lat))])
        return {
            "hits": self.hits,
            "misses": self.misses,
            "total_requests": total,
            "evictions": evictions,
            "hit_rate": round(hit_rate, 2),
            # The seed reports 100 - hit_rate, so 100.0 before any request.
            "miss_rate": round(100.0 - hit_rate, 2),
            "avg_cache_latency_ms": round(self._total_s / total * 1000, 4) if total else 0.0,
            "p50_latency_ms": self._percentile_ms(ordered, 50),
            "p95_latency_ms": self._percentile_ms(ordered, 95),
            "p99_latency_ms": self._percentile_ms(ordered, 99),
            "recycles": recycles - self.base_recycles,
            "timeouts": timeouts - self.base_timeouts,
        }


_COUNTERS = (  # (metric name, snapshot key, help)
    ("hits", "hits", "Lookups that found a live entry."),
    ("misses", "misses", "Lookups that found nothing live."),
    ("requests", "total_requests", "Lookups."),
    ("evictions", "evictions", "Live entries dropped to make room."),
    ("recycles", "recycles", "WebAssembly instances replaced after a trap or timeout."),
    ("timeouts", "timeouts", "Calls stopped at their deadline."),
)


def prometheus_text(metrics: Metrics, prefix: str, snapshot: dict[str, Any], entries: int) -> str:
    """Prometheus text exposition (format 0.0.4) of `snapshot` (taken from
    `metrics`): counters `<prefix>_<name>_total`, a gauge `<prefix>_entries`
    and a summary `<prefix>_latency_seconds` with quantiles 0.5/0.95/0.99."""
    lines: list[str] = []
    for name, key, help_text in _COUNTERS:
        metric = f"{prefix}_{name}_total"
        lines += [
            f"# HELP {metric} {help_text}",
            f"# TYPE {metric} counter",
            f"{metric} {snapshot[key]}",
        ]
    lines += [
        f"# HELP {prefix}_entries Entries held, live or not yet cleaned up.",
        f"# TYPE {prefix}_entries gauge",
        f"{prefix}_entries {entries}",
        f"# HELP {prefix}_latency_seconds Lookup latency seen from Python.",
        f"# TYPE {prefix}_latency_seconds summary",
    ]
    for q, key in (("0.5", "p50_latency_ms"), ("0.95", "p95_latency_ms"), ("0.99", "p99_latency_ms")):
        lines.append(f'{prefix}_latency_seconds{{quantile="{q}"}} {snapshot[key] / 1000:.9f}')
    total = snapshot["total_requests"]
    lines.append(f"{prefix}_latency_seconds_sum {metrics.total_seconds:.9f}")
    lines.append(f"{prefix}_latency_seconds_count {total}")
    return "\n".join(lines) + "\n"


def prometheus_eval_text(metrics: dict[str, Any]) -> str:
    """Prometheus text of an engine's evaluation metrics (`eval_metrics`),
    with the names the Rust host uses: the counter
    `sark_policy_evaluations_total` by `path` (`rvm`, or `interpreter` with
    one line per `reason` seen), the counter
    `sark_policy_rvm_programs_compiled_total` and the gauge
    `sark_policy_rvm_fallback_rules`."""
    lines = [
        "# HELP sark_policy_evaluations_total Rule evaluations, by the path that ran them.",
        "# TYPE sark_policy_evaluations_total counter",
        f'sark_policy_evaluations_total{{path="rvm"}} {metrics["rvm_evaluations"]}',
    ]
    # Reasons are WIT enum case names: label values that need no escaping.
    for reason, count in metrics["interpreter_evaluations"].items():
        lines.append(
            f'sark_policy_evaluations_total{{path="interpreter",reason="{reason}"}} {count}'
        )
    lines += [
        "# HELP sark_policy_rvm_programs_compiled_total RVM programs compiled, one per rule"
        " and revision evaluated.",
        "# TYPE sark_policy_rvm_programs_compiled_total counter",
        f"sark_policy_rvm_programs_compiled_total {metrics['rvm_programs_compiled']}",
        "# HELP sark_policy_rvm_fallback_rules Rules of the current revision that run on"
        " the interpreter.",
        "# TYPE sark_policy_rvm_fallback_rules gauge",
        f"sark_policy_rvm_fallback_rules {len(metrics['rvm_fallbacks'])}",
    ]
    return "\n".join(lines) + "\n"
