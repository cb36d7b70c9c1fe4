"""sark_policy: a sandboxed Rego policy engine with a decision cache, run as
one WebAssembly component by wasmtime.

- `PolicyEngine`: policies and data in, decisions out (rules run on
  regorus's RVM, or its interpreter where the RVM cannot; `EvalOptions`).
- `Authorizer`: a cached decision per request in one call into the
  component.
- Decision logs: `Authorizer(..., decision_log=DecisionLogConfig(url))`
  ships every decision as an OPA decision-log event (masked in the
  instance) to a collector or the console; `DecisionLogStatus` counts them.
- `PolicyCache`: a drop-in for the old `RustPolicyCache`.
- OPA bundles: `PolicyEngine.activate_bundle` (a tarball or a directory,
  signatures checked with a `Verification`), and `BundlePoller`, which
  polls a bundle server and reports a `BundleStatus`.
- `sark_policy.compat`: drop-ins for SARK's PyO3 `RustOPAEngine` and
  `RustCache` (`from sark_policy.compat import RustCache, RustOPAEngine`).

Every call crosses into a sandboxed instance with no WASI capability, a
memory cap and a deadline; a trap recycles the instance and raises a
`SandboxTrapError`. An engine or cache holds a pool of such instances
(`pool_size`, default 1), so that N threads can use one engine at once.
"""

from ._authorizer import Authorizer, Decision
from ._bundles import BundleInfo, Verification, VerificationKey
from ._cache import PolicyCache, get_policy_cache, is_available
from ._decision_log import DecisionLog, DecisionLogConfig, DecisionLogStatus
from ._engine import DocumentLimits, PolicyEngine, RegoVersion, TestOutcome, TestResult
from ._errors import (
    EvaluationError,
    InvalidBundleError,
    InvalidJsonError,
    InvalidPolicyError,
    LimitExceededError,
    NotFoundError,
    OtherPolicyError,
    PolicyError,
    PolicyTimeoutError,
    SandboxMemoryError,
    SandboxTrapError,
)
from ._json import UNDEFINED, Undefined
from ._poller import BundlePoller
from ._rvm import EvalOptions
from ._sandbox import SandboxLimits
from ._status import BundleStatus
from ._ttl import DEFAULT_SENSITIVITY_TTLS, Clock, Sensitivity, TtlPolicy

__version__ = "0.1.0"

__all__ = [
    "Authorizer",
    "BundleInfo",
    "BundlePoller",
    "BundleStatus",
    "Clock",
    "DEFAULT_SENSITIVITY_TTLS",
    "Decision",
    "DecisionLog",
    "DecisionLogConfig",
    "DecisionLogStatus",
    "DocumentLimits",
    "EvalOptions",
    "EvaluationError",
    "InvalidBundleError",
    "InvalidJsonError",
    "InvalidPolicyError",
    "LimitExceededError",
    "NotFoundError",
    "OtherPolicyError",
    "PolicyCache",
    "PolicyEngine",
    "PolicyError",
    "PolicyTimeoutError",
    "RegoVersion",
    "SandboxLimits",
    "SandboxMemoryError",
    "SandboxTrapError",
    "Sensitivity",
    "TestOutcome",
    "TestResult",
    "TtlPolicy",
    "UNDEFINED",
    "Undefined",
    "Verification",
    "VerificationKey",
    "get_policy_cache",
    "is_available",
]
