"""Drop-ins for SARK's PyO3 module `sark.sark_rust` (re-exported by
`sark._rust`): `RustOPAEngine`, `RustCache` and their exceptions, with the
same methods, arguments, results and errors, running in the component's
sandbox. Migrating is one line::

    from sark_policy.compat import RustCache, RustOPAEngine

Both are thin wrappers: `RustOPAEngine` over a `PolicyEngine`, `RustCache`
over a `PolicyCache`'s instances, so the sandbox limits, recycling after a
trap and the metrics are the rest of the package's (`get_metrics()`,
`prometheus()`). Both are thread-safe (the PyO3 classes raised "Already
borrowed" when two threads used one engine).

What is stricter than the PyO3 module: a policy that fails to load changes
nothing (the PyO3 engine lost the module it was replacing); policy sources
and documents are held to the component's limits (16 MiB, nesting 64);
`RustCache(max_size)` is at most 2**32 - 1.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ._cache import PolicyCache
from ._engine import PolicyEngine, RegoVersion
from ._errors import (
    EvaluationError,
    InvalidJsonError,
    LimitExceededError,
    NotFoundError,
    PolicyError,
)
from ._json import UNDEFINED, dumps
from ._sandbox import SandboxLimits
from ._ttl import Clock

__all__ = ["OPACompilationError", "OPAEvaluationError", "RustCache", "RustOPAEngine"]


class OPACompilationError(Exception):
    """A policy does not parse or compile (the PyO3 module's exception)."""


class OPAEvaluationError(Exception):
    """A query failed to evaluate (the PyO3 module's exception)."""


def _is_rule_path(query: str) -> bool:
    """Whether `query` is a plain `data.a.b` path, which can run on the RVM
    as a rule instead of as a query on the interpreter."""
    parts = query.split(".")
    return (len(parts) > 2 and parts[0] == "data"
            and all(p.isidentifier() and p.isascii() for p in parts))


class RustOPAEngine:
    """SARK's `RustOPAEngine`: named Rego modules and queries against them.

    Policies are read as Rego v0 by default, as the PyO3 module's regorus
    0.2 read them (`allow { ... }`; `import future.keywords...` and `import
    rego.v1` work too); `rego_version="v1"` reads OPA 1.x syntax. `limits`
    and `pool_size` are `PolicyEngine`'s; `engine` is the `PolicyEngine`
    itself (data, metrics, options).
    """

    def __init__(
        self,
        *,
        rego_version: RegoVersion = "v0",
        limits: SandboxLimits | None = None,
        pool_size: int = 1,
    ) -> None:
        """An engine with no policies. Raises `FileNotFoundError` when the
        package has no component."""
        self._settings = (rego_version, limits, pool_size)
        self.engine = PolicyEngine(rego_version=rego_version, limits=limits, pool_size=pool_size)

    def load_policy(self, name: str, rego: str) -> None:
        """Loads and compiles a module; loading a name again replaces that
        module. Raises `ValueError` for an empty name or source,
        `OPACompilationError` for a module that does not compile (the
        policies are then as they were)."""
        if not name:
            raise ValueError("Policy name cannot be empty")
        if not rego:
            raise ValueError("Policy source cannot be empty")
        try:
            self.engine.add_policy(name, rego)
        except PolicyError as e:
            raise OPACompilationError(e.message) from e

    def evaluate(self, query: str, input_data: Mapping[str, Any]) -> Any:
        """Evaluates `query` (`data.authz.allow`, or any Rego query) with
        `input_data` as input and returns the value of its first expression
        in the first result; `False` when the query is undefined (also for a
        package that is not loaded). A plain `data.` path runs as a rule on
        the RVM; other queries run on the interpreter, as queries always
        do. Raises `TypeError` when `input_data` is not a dict, `ValueError`
        for an empty query or input that cannot be converted to JSON (or is
        over the document limits), `OPAEvaluationError` for an evaluation
        error (a conflict, a query that does not parse, a timeout)."""
        if not isinstance(input_data, Mapping):
            raise TypeError(f"input_data must be a dict, not {type(input_data).__name__}")
        if not query:
            raise ValueError("Query cannot be empty")
        try:
            if _is_rule_path(query):
                try:
                    value = self.engine.evaluate(query, input_data)
                    return False if value is UNDEFINED else value
                except (NotFoundError, EvaluationError):
                    pass  # not a rule (a package, a path into a value): ask a query
            results = self.engine.query(query, input_data)
        except (InvalidJsonError, LimitExceededError) as e:
            # The input's conversion, here or in the component ("input ...").
            if e.message.startswith("input"):
                raise ValueError(f"Failed to convert input: {e.message}") from e
            raise OPAEvaluationError(e.message) from e
        except PolicyError as e:
            raise OPAEvaluationError(e.message) from e
        if results and results[0].get("expressions"):
            return results[0]["expressions"][0].get("value", False)
        return False

    def clear_policies(self) -> None:
        """Removes every policy."""
        pending = self.engine.policies()
        while pending:
            # A module another one calls cannot go first: retry the refused.
            refused = []
            for name in reversed(pending):
                try:
                    self.engine.remove_policy(name)
                except PolicyError:
                    refused.append(name)
            if len(refused) == len(pending):
                # Modules that need one another: start from an empty engine.
                rego_version, limits, pool_size = self._settings
                self.engine = PolicyEngine(rego_version=rego_version, limits=limits,
                                           pool_size=pool_size)
                return
            pending = refused

    def loaded_policies(self) -> list[str]:
        """Names of the policies loaded (sorted)."""
        return self.engine.policies()

    def has_policy(self, name: str) -> bool:
        """Whether a policy named `name` is loaded."""
        return name in self.engine.policies()

    def get_metrics(self) -> dict[str, Any]:
        """The engine's evaluation metrics (`PolicyEngine.get_metrics`)."""
        return self.engine.get_metrics()

    def prometheus(self) -> str:
        """The engine's metrics in Prometheus text format."""
        return self.engine.prometheus()

    def __repr__(self) -> str:
        return f"RustOPAEngine(policies={len(self.engine.policies())})"


def _seconds(value: Any, what: str) -> int:
    """An unsigned integer argument, refused as PyO3 refuses it."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer")
    if value < 0:
        raise OverflowError(f"{what}: can't convert negative int to unsigned")
    return value


class RustCache:
    """SARK's `RustCache`: string keys to string values, at most `max_size`
    entries (least recently used evicted first), each expiring `ttl_secs`
    seconds after it was set unless `set` says otherwise. Thread-safe.

    Built on a `PolicyCache` (the component's decision cache in the
    sandbox): `get_metrics()` and `prometheus()` are its metrics (`get`
    counts hits and misses, with latencies). `clock` (seconds, default
    `time.monotonic`), `limits` and `pool_size` are `PolicyCache`'s.
    """

    def __init__(
        self,
        max_size: int,
        ttl_secs: int,
        *,
        clock: Clock = time.monotonic,
        limits: SandboxLimits | None = None,
        pool_size: int = 1,
    ) -> None:
        """Raises `ValueError` when `max_size` or `ttl_secs` is 0 (or
        `max_size` over 2**32 - 1), `OverflowError` when negative,
        `TypeError` when not an integer."""
        if _seconds(max_size, "max_size") == 0:
            raise ValueError("max_size must be greater than 0")
        if _seconds(ttl_secs, "ttl_secs") == 0:
            raise ValueError("ttl_secs must be greater than 0")
        try:
            self._cache = PolicyCache(max_size=max_size, ttl_seconds=ttl_secs, clock=clock,
                                      limits=limits, pool_size=pool_size)
        except LimitExceededError as e:
            raise ValueError(f"max_size: {e.message}") from e

    def _target(self, key: str) -> tuple[tuple[str, str, str, bytes], int, bytes]:
        """The entry of `key` for the cache's private operations: its memo
        (shard choice), instance and stored key (the key itself)."""
        if not isinstance(key, str):
            raise TypeError(f"key must be str, not {type(key).__name__}")
        memo = (key, "", "", b"")
        return memo, self._cache._pool.shard_for(memo), key.encode()

    def get(self, key: str) -> str | None:
        """The value of `key`, or None when absent or expired (an expired
        entry is removed)."""
        value: str | None = self._cache._get(self._target(key), time.perf_counter())
        return value

    def set(self, key: str, value: str, ttl: int | None = None) -> None:
        """Stores `value` under `key` for `ttl` seconds (None: the
        constructor's `ttl_secs`; 0: expired at once). Raises `TypeError`
        for a value that is not a str, `OverflowError` for a negative
        `ttl`."""
        if not isinstance(value, str):
            raise TypeError(f"value must be str, not {type(value).__name__}")
        target = self._target(key)
        seconds = None if ttl is None else _seconds(ttl, "ttl")
        try:
            text = dumps(value)  # the component's cache holds JSON: a JSON string
        except InvalidJsonError as e:  # a lone surrogate, which UTF-8 cannot carry
            raise ValueError(e.message) from e
        window = self._cache._ttl.window(self._cache._clock(), None, seconds)
        self._cache._set(target, text, window)

    def delete(self, key: str) -> bool:
        """Removes `key`; True when it was there (live or expired)."""
        deleted: bool = self._cache._delete(self._target(key))
        return deleted

    def clear(self) -> None:
        """Removes every entry."""
        self._cache.clear_sync()

    def size(self) -> int:
        """Entries held, live or expired but not yet removed."""
        return self._cache.size_sync()

    def cleanup_expired(self) -> int:
        """Removes the expired entries and returns how many."""
        return self._cache.cleanup_expired_sync()

    def get_metrics(self) -> dict[str, Any]:
        """Hits, misses, rates, evictions and `get` latencies
        (`PolicyCache.get_metrics`)."""
        return self._cache.get_metrics()

    def prometheus(self) -> str:
        """The metrics in Prometheus text format."""
        return self._cache.prometheus()

    def close(self) -> None:
        """Frees the cache's instances; later calls raise. Idempotent."""
        self._cache.close()

    def __repr__(self) -> str:
        return f"RustCache(size={self.size()})"

