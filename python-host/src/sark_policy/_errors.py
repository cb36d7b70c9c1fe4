"""Exceptions: one base class, one subclass per WIT `error` case, and the
sandbox failures (deadline, trap) that the component itself cannot report.

wasmtime-py hands an `err` result back as a `Variant` value; the call layer
(`_abi`) turns it into one of these at the boundary, so no `Variant` ever
reaches a caller.
"""

from __future__ import annotations

__all__ = [
    "PolicyError",
    "InvalidPolicyError",
    "InvalidJsonError",
    "EvaluationError",
    "LimitExceededError",
    "NotFoundError",
    "OtherPolicyError",
    "InvalidBundleError",
    "SandboxTrapError",
    "PolicyTimeoutError",
    "SandboxMemoryError",
    "error_from_wit",
]


class PolicyError(Exception):
    """Base class of every error this package raises.

    `kind` is the WIT case name (`invalid-policy`, ...) or, for sandbox
    failures, `trap` / `timeout` / `memory`; `message` is the text without
    the kind.
    """

    kind: str = "policy-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidPolicyError(PolicyError):
    """A Rego module failed to parse or compile (WIT `invalid-policy`); the
    message carries file, line and column."""

    kind = "invalid-policy"


class InvalidJsonError(PolicyError):
    """A JSON document (data, input, context, cached value) is not valid JSON
    or, on the Python side, not JSON-serializable (WIT `invalid-json`)."""

    kind = "invalid-json"


class EvaluationError(PolicyError):
    """Evaluation failed at run time: a conflict, a builtin error in strict
    mode, a type error, or a query that does not parse (WIT `evaluation`)."""

    kind = "evaluation"


class LimitExceededError(PolicyError):
    """A document or argument is over a documented limit: JSON depth or size,
    cache capacity (WIT `limit-exceeded`)."""

    kind = "limit-exceeded"


class NotFoundError(PolicyError):
    """The named policy, key or package does not exist (WIT `not-found`)."""

    kind = "not-found"


class OtherPolicyError(PolicyError):
    """Any other failure the component reports (WIT `other`)."""

    kind = "other"


class InvalidBundleError(PolicyError):
    """An OPA bundle is malformed, reaches outside its roots, overlaps another
    bundle's roots, or fails signature verification (WIT `invalid-bundle`).
    The bundle active before, if any, keeps serving."""

    kind = "invalid-bundle"


class SandboxTrapError(PolicyError):
    """The WebAssembly instance trapped (a guest abort, a stack overflow, a
    deadline or the memory cap). The instance has already been replaced by a
    fresh one holding the same policies, data and settings; decision caches
    living in it start empty. `detail` holds wasmtime's full message."""

    kind = "trap"

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class PolicyTimeoutError(SandboxTrapError):
    """The call ran past its deadline (epoch interruption) and was stopped;
    the instance was recycled as for any trap."""

    kind = "timeout"


class SandboxMemoryError(SandboxTrapError):
    """The guest ran out of memory under the instance memory cap; the
    instance was recycled as for any trap."""

    kind = "memory"


_BY_KIND: dict[str, type[PolicyError]] = {
    cls.kind: cls
    for cls in (
        InvalidPolicyError,
        InvalidJsonError,
        EvaluationError,
        LimitExceededError,
        NotFoundError,
        OtherPolicyError,
        InvalidBundleError,
    )
}


def error_from_wit(tag: str, message: str) -> PolicyError:
    """The exception for a WIT `error` case `tag` carrying `message`; an
    unknown tag (a newer component) becomes `OtherPolicyError`."""
    cls = _BY_KIND.get(tag)
    if cls is None:
        return OtherPolicyError(f"{tag}: {message}")
    return cls(message)
