"""TTL policy, clock conversion and metrics in isolation."""

from __future__ import annotations

from sark_policy import DEFAULT_SENSITIVITY_TTLS, Sensitivity, TtlPolicy
from sark_policy._metrics import Metrics, prometheus_text
from sark_policy._ttl import to_ms


def test_ttl_precedence() -> None:
    p = TtlPolicy()
    assert dict(DEFAULT_SENSITIVITY_TTLS) == {
        "critical": 60, "confidential": 120, "internal": 180, "public": 300}
    assert [p.seconds(s) for s in Sensitivity] == [300, 180, 120, 60]
    assert p.seconds() == 300 and p.seconds("") == 300
    assert p.seconds("critical", ttl_seconds=7) == 7
    assert p.seconds("bogus") == 300
    assert TtlPolicy(ttl_seconds=42).seconds() == 42
    assert TtlPolicy(ttl_seconds=42, use_optimized_ttl=False).seconds("critical") == 42
    assert TtlPolicy(sensitivity_ttls={"critical": 1}).seconds("critical") == 1


def test_window_and_ms_rounding() -> None:
    assert to_ms(59.999) == 59999 and to_ms(1.0005) in (1000, 1001) and to_ms(-3) == 0
    assert TtlPolicy().window(10.0, "critical") == (10_000, 70_000)
    assert TtlPolicy().window(10.0, ttl_seconds=0.5) == (10_000, 10_500)
    assert TtlPolicy().window(10.0, ttl_seconds=-1) == (10_000, 10_000)


def test_metrics_percentiles_and_window() -> None:
    m = Metrics()
    for i in range(1, 101):
        m.record(i % 4 == 0, i / 1000)  # 1..100 ms
    s = m.snapshot(evictions=3, recycles=2, timeouts=1)
    assert (s["hits"], s["misses"], s["total_requests"]) == (25, 75, 100)
    assert (s["hit_rate"], s["miss_rate"]) == (25.0, 75.0)
    assert s["avg_cache_latency_ms"] == 50.5
    assert (s["p50_latency_ms"], s["p95_latency_ms"], s["p99_latency_ms"]) == (51.0, 95.0, 99.0)
    assert (s["evictions"], s["recycles"], s["timeouts"]) == (3, 2, 1)
    m.reset(recycles=2, timeouts=1)
    s = m.snapshot(evictions=0, recycles=5, timeouts=1)
    assert (s["total_requests"], s["p99_latency_ms"], s["recycles"], s["timeouts"]) == (0, 0.0, 3, 0)
    for _ in range(5000):  # only the last 4096 feed the percentiles
        m.record(True, 0.002)
    assert m.snapshot(evictions=0, recycles=0, timeouts=0)["p50_latency_ms"] == 2.0


def test_prometheus_sum_is_exact() -> None:
    m = Metrics()
    m.record(True, 0.25)
    m.record(False, 0.5)
    snap = m.snapshot(evictions=0, recycles=0, timeouts=0)
    text = prometheus_text(m, "x", snap, entries=4)
    assert "x_latency_seconds_sum 0.750000000" in text
    assert "x_entries 4" in text and "x_requests_total 2" in text
