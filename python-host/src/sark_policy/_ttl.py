"""The TTL policy hosts apply: how long a decision stays cached, by
sensitivity, and the clock that turns it into the guest's milliseconds.

The guest never reads a clock; every host passes `now-ms` and
`expires-at-ms`. The numbers match the Rust host and the seed's
`RustPolicyCache.OPTIMIZED_TTL`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["Clock", "Sensitivity", "TtlPolicy", "DEFAULT_SENSITIVITY_TTLS", "to_ms"]

_log = logging.getLogger("sark_policy")

#: A clock: a callable returning seconds as a float, e.g. `time.monotonic`.
Clock = Callable[[], float]


class Sensitivity(str, enum.Enum):
    """How sensitive the resource behind a decision is (WIT `sensitivity`).
    Plain strings with the same values are accepted wherever this is."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    CRITICAL = "critical"


#: Seconds a decision is cached, by sensitivity (the seed's numbers).
DEFAULT_SENSITIVITY_TTLS: Mapping[str, int] = MappingProxyType(
    {"critical": 60, "confidential": 120, "internal": 180, "public": 300}
)


def _default_ttls() -> Mapping[str, int]:
    return DEFAULT_SENSITIVITY_TTLS


@dataclass(frozen=True)
class TtlPolicy:
    """Chooses the TTL of a cached decision.

    Precedence: an explicit `ttl_seconds` passed to the call; else, when
    `use_optimized_ttl` is on and a sensitivity is given, the sensitivity's
    TTL; else the default `ttl_seconds` (also for an unknown sensitivity,
    which is logged, as the seed did).
    """

    ttl_seconds: float = 300
    use_optimized_ttl: bool = True
    sensitivity_ttls: Mapping[str, int] = field(default_factory=_default_ttls)

    def seconds(
        self,
        sensitivity: Sensitivity | str | None = None,
        ttl_seconds: float | None = None,
    ) -> float:
        """The TTL in seconds for one decision. Raises nothing."""
        if ttl_seconds is not None:
            return ttl_seconds
        if not self.use_optimized_ttl or not sensitivity:
            return self.ttl_seconds
        name = sensitivity.value if isinstance(sensitivity, Sensitivity) else sensitivity.lower()
        ttl = self.sensitivity_ttls.get(name)
        if ttl is None:
            _log.warning("unknown sensitivity %r: using the default TTL", sensitivity)
            return self.ttl_seconds
        return ttl

    def window(
        self,
        now_s: float,
        sensitivity: Sensitivity | str | None = None,
        ttl_seconds: float | None = None,
    ) -> tuple[int, int]:
        """`(now_ms, expires_at_ms)` for a decision made at clock time
        `now_s`. An entry is live while the clock is below `expires_at_ms`,
        so one stored at t with TTL 60 s is a miss from t + 60 s on."""
        now_ms = to_ms(now_s)
        ttl_ms = max(0, round(self.seconds(sensitivity, ttl_seconds) * 1000))
        return now_ms, now_ms + ttl_ms


def to_ms(seconds: float) -> int:
    """Clock seconds to the guest's unsigned milliseconds, rounded to the
    nearest millisecond (so 59.999 s is 59999 ms, not 59998; a half rounds
    up). Runs on every request, hence `int(x + 0.5)`, cheaper than
    `round`."""
    ms = seconds * 1000
    return int(ms + 0.5) if ms > 0 else 0
