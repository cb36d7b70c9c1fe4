"""`PolicyEngine`: Rego policies and data in a pool of sandboxed instances."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from wasmtime.component import ResourceAny

from ._abi import Bindings, Trapped
from ._bundles import (
    BundleInfo,
    BundleSource,
    Verification,
    lower_source,
    lower_verification,
    read_source,
)
from ._errors import PolicyError, SandboxTrapError
from ._journal import Journal, strip_roots
from ._json import UNDEFINED, data_text, dumps, loads
from ._metrics import prometheus_eval_text
from ._pool import Pool, drop_and_close
from ._rvm import U64_MAX, EvalOptions, merge_eval_metrics
from ._sandbox import Sandbox, SandboxLimits
from ._status import BundleStatuses, prometheus_bundle_text

#: The Rego syntax policies are written in, as OPA 1.x names them.
RegoVersion = Literal["v1", "v0"]

__all__ = ["PolicyEngine", "DocumentLimits", "TestResult", "TestOutcome"]

#: How one test rule ended (WIT `test-outcome`).
TestOutcome = Literal["pass", "fail", "error", "skip"]

_log = logging.getLogger("sark_policy")
T = TypeVar("T")


@dataclass(frozen=True)
class DocumentLimits:
    """The limits the component enforces on every JSON document and policy
    source: nesting depth and size in bytes."""

    max_depth: int
    max_bytes: int


@dataclass(frozen=True)
class TestResult:
    """The result of one Rego test rule (`PolicyEngine.run_tests`).

    `outcome` is "pass" (the rule is `true`; with cases, every case is),
    "fail" (false, another value, or undefined), "error" (evaluating it
    failed: `message` says why) or "skip" (a `todo_test_*` rule, not run).
    For a "fail" of a rule with cases (`test_x[note]`), `message` holds one
    line `<case>: FAIL` per failing case. `duration_ns` is the time the
    component spent evaluating the rule."""

    __test__ = False  # not a pytest test class

    package: str
    name: str
    file: str
    row: int
    col: int
    outcome: TestOutcome
    message: str
    duration_ns: int

    @property
    def full_name(self) -> str:
        """`package.name`, e.g. `data.authz_test.test_allow`."""
        return f"{self.package}.{self.name}"


class PolicyEngine:
    """A Rego engine in a pool of sandboxed WebAssembly instances that hold
    the same policies and data.

    `pool_size` instances (default 1): each instance runs one call at a
    time, so N threads evaluate in parallel on one engine only with a pool
    of N (wasm calls release the GIL). Each instance holds its own copy of
    the policies and data, and every change is made in each, so memory and
    the cost of a change grow with the pool; the default of 1 keeps both as
    with a single instance (as the Rust host's `shards`, whose default is 1
    too). An `Authorizer` shards its decision cache over the same instances.

    Thread-safe. A change (policies, data, settings) holds every instance's
    lock while it is made: the first instance decides (if it refuses,
    nothing changed anywhere), then the others follow, so no call ever sees
    a change in one instance and not in another. Every failed call leaves
    policies, data and revision as they were. After a trap or a timeout
    (`SandboxTrapError`, `PolicyTimeoutError`) the instance is replaced by
    a fresh one into which the engine's journal of successful changes is
    replayed, so the next call sees the same policies, data, strict setting
    and evaluation options.

    Rules run on regorus's RVM, compiled once per rule and revision, or on
    its interpreter where the RVM cannot give OPA's answer (`get_metrics`
    says which and why); `interpreter_only` forces the interpreter and
    `max_instructions` bounds the RVM work of one evaluation (default: the
    component's, 50,000,000).

    `rego_version="v0"` reads every policy as Rego written for OPA before
    1.0 (`allow { ... }`), as `opa --v0-compatible` does; the default,
    `"v1"`, is OPA 1.x syntax.

    OPA bundles (`activate_bundle`) are activated in every instance as a
    change is, recorded in the journal, and polled from a bundle server by
    a `BundlePoller`; their status is in `get_metrics()["bundles"]` and
    `prometheus()`.
    """

    def __init__(
        self,
        *,
        limits: SandboxLimits | None = None,
        strict_builtin_errors: bool = False,
        interpreter_only: bool = False,
        max_instructions: int | None = None,
        pool_size: int = 1,
        rego_version: RegoVersion = "v1",
    ) -> None:
        """Creates an empty engine of `pool_size` instances. Raises
        `FileNotFoundError` when the package has no component, `ValueError`
        for a `max_instructions` outside 0..2**64-1, a `pool_size` below 1
        or a `rego_version` other than "v1" and "v0"."""
        if rego_version not in ("v1", "v0"):
            raise ValueError(f"rego_version must be 'v1' or 'v0', not {rego_version!r}")
        self._rego_version: RegoVersion = rego_version
        self._options = (interpreter_only, _budget(max_instructions))
        self._pool = Pool(pool_size, limits)
        self._sandbox = self._pool.first  # the instance that decides changes
        self._journal = Journal()
        self._bundle_statuses = BundleStatuses()
        n = self._pool.size
        # Per instance, indexed by `Sandbox.index`.
        self._resources: list[ResourceAny | None] = [None] * n
        self._handles = [0] * n
        self._revisions = [0] * n
        self._default_budget = 0
        for sandbox in self._pool.sandboxes:
            with sandbox.loading() as abi:
                self._create(sandbox, abi)
        self._max_bytes = self.limits().max_bytes
        self._pool.on_recycle(self._rebuild)
        if strict_builtin_errors:
            self.set_strict_builtin_errors(True)

    @property
    def rego_version(self) -> RegoVersion:
        """The Rego version every policy is read as ("v1" or "v0")."""
        return self._rego_version

    @property
    def pool_size(self) -> int:
        """Instances in the pool."""
        return self._pool.size

    def _create(self, sandbox: Sandbox, abi: Bindings) -> None:
        """A new engine resource in `sandbox` with this engine's evaluation
        options (which, unlike the journal, also survive a failed replay)."""
        i = sandbox.index
        self._resources[i] = resource = abi.new_engine()
        self._handles[i] = handle = abi.handle(resource)
        self._revisions[i] = abi.call("engine.revision", handle)
        self._default_budget = abi.call("engine.eval-options", handle)[1]
        self._apply_options(sandbox, abi)
        if self._rego_version != "v1":  # before any module is replayed
            abi.call("engine.set-rego-version", handle, self._rego_version)

    def _apply_options(self, sandbox: Sandbox, abi: Bindings) -> None:
        interpreter_only, budget = self._options
        abi.call("engine.set-eval-options", self._handles[sandbox.index],
                 (interpreter_only, self._default_budget if budget is None else budget))

    def _rebuild(self, sandbox: Sandbox, replay: bool) -> None:
        abi = sandbox.abi
        self._create(sandbox, abi)
        if replay:
            i = sandbox.index
            self._journal.replay(abi, self._handles[i])
            self._revisions[i] = abi.call("engine.revision", self._handles[i])

    def _send(self, sandbox: Sandbox, abi: Bindings, name: str, args: tuple[Any, ...]) -> Any:
        """Makes one change in one instance and reads its new revision."""
        handle = self._handles[sandbox.index]
        result = abi.call(name, handle, *args)
        self._revisions[sandbox.index] = abi.call("engine.revision", handle)
        return result

    def _change(self, name: str, *args: Any, record: Callable[[Journal], None]) -> Any:
        """Makes a change in every instance under the load deadline, with
        every lock held, and records it in the journal with `record`. The
        first instance decides: what it raises is raised and nothing
        changed. An instance that then fails (it should not: it holds the
        same state as the first) is rebuilt from the updated journal."""
        return self._change_with(name, args, lambda j, _: record(j))

    def _change_with(self, name: str, args: tuple[Any, ...],
                     record: Callable[[Journal, Any], None]) -> Any:
        """`_change`, recording with the first instance's result too:
        `record(journal, result)`."""
        with self._pool.locked_all() as sandboxes:
            first, *others = sandboxes
            result = first.call(lambda abi: self._send(first, abi, name, args), load=True)
            failed: list[tuple[Sandbox, Trapped | PolicyError]] = []
            for sandbox in others:
                with sandbox.loading() as abi:
                    try:
                        self._send(sandbox, abi, name, args)
                    except (Trapped, PolicyError) as e:
                        failed.append((sandbox, e))
            record(self._journal, result)
            for sandbox, why in failed:
                if isinstance(why, Trapped):
                    why = sandbox.absorb(why)  # counts it and rebuilds
                else:
                    sandbox.recycle()
                _log.warning("instance %d failed %s that the first accepted (%s); rebuilt",
                             sandbox.index, name, why)
        return result

    def _on_any(self, op: Callable[[Sandbox, Bindings], T]) -> T:
        """Runs `op` on any free instance (see `Pool.acquire_any`); a trap
        recycles that instance and raises."""
        sandbox = self._pool.acquire_any()
        try:
            return op(sandbox, sandbox.abi)
        except Trapped as t:
            sandbox.fail(t)
        finally:
            sandbox.lock.release()

    # -- policies -------------------------------------------------------------

    def add_policy(self, name: str, source: str) -> str:
        """Adds or replaces the Rego module `name` (a file name, used in error
        positions) and returns its package, e.g. `data.authz`. Raises
        `InvalidPolicyError` (with position) or `LimitExceededError`."""
        package: str = self._change("engine.add-policy", name, source,
                                    record=lambda j: j.add_policy(name, source))
        return package

    def remove_policy(self, name: str) -> None:
        """Removes the module `name`. Raises `NotFoundError`."""
        self._change("engine.remove-policy", name, record=lambda j: j.remove_policy(name))

    def policies(self) -> list[str]:
        """Names of the modules held, sorted."""
        names: list[str] = self._on_any(
            lambda s, abi: abi.call("engine.policies", self._handles[s.index]))
        return names

    def packages(self) -> list[str]:
        """Packages of the modules held (`data.<path>`), sorted, deduplicated."""
        names: list[str] = self._on_any(
            lambda s, abi: abi.call("engine.packages", self._handles[s.index]))
        return names

    # -- data -----------------------------------------------------------------

    def add_data(self, data: Mapping[str, Any] | str) -> None:
        """Merges a JSON object (a mapping, or JSON text) into the data
        document. Raises `InvalidJsonError`, `LimitExceededError`, or
        `EvaluationError` when it conflicts with existing data (the data is
        then unchanged)."""
        text = data_text(data)
        with self._pool.locked_all():
            self._change("engine.add-data", text, record=lambda j: j.add_data(text))
            if self._journal.wants_compaction():
                self._compact()

    def _compact(self) -> None:
        """Compacts the journal's data changes into the merged document,
        without the data under the bundles' roots (see `Journal`). Call
        with every lock held; a failure only logs: the journal is then left
        as it was."""
        first = self._sandbox
        with first.loading() as abi:
            try:
                document: str = abi.call("engine.data", self._handles[0])
            except Trapped as t:
                _log.warning("journal not compacted: %s", first.absorb(t))
                return
            except PolicyError as e:
                _log.warning("journal not compacted: %s", e)
                return
        document = strip_roots(document, self._journal.bundle_roots())
        if not self._journal.compact(document, self._max_bytes):
            _log.warning("journal not compacted: a top-level data entry is over %d bytes",
                         self._max_bytes)

    def replace_data(self, data: Mapping[str, Any] | str) -> None:
        """Replaces the whole data document with a JSON object. Raises
        `InvalidJsonError` or `LimitExceededError`."""
        text = data_text(data)
        self._change("engine.replace-data", text, record=lambda j: j.replace_data(text))

    def clear_data(self) -> None:
        """Empties the data document."""
        self._change("engine.clear-data", record=Journal.clear_data)

    def data(self) -> Any:
        """The data document as Python: what `add_data` and `replace_data`
        built (base documents only, no rule values). Raises
        `OtherPolicyError` if the component cannot print it."""
        text: str = self._on_any(lambda s, abi: abi.call("engine.data", self._handles[s.index]))
        return loads(text)

    # -- bundles ----------------------------------------------------------------

    def activate_bundle(self, name: str, source: BundleSource,
                        verification: Verification | None = None) -> BundleInfo:
        """Activates an OPA bundle under `name`, replacing the bundle of that
        name (its modules, named `{name}/{path}`, and the data under its
        roots), in every instance at once, as a change: the first instance
        decides; if it refuses, nothing changed anywhere and the bundle
        active before keeps serving. A bundle holding `patch.json` is a
        delta: it patches the data of the active bundle of that name. The
        revision changes, so no decision cached before is served after.

        `source` is a gzipped tarball's bytes, or the path of a `.tar.gz`
        file or of a bundle directory (see `read_source`). With
        `verification`, `.signatures.json` must sign every file.

        Raises `InvalidBundleError` (format, roots, signature),
        `InvalidPolicyError`, `InvalidJsonError`, `LimitExceededError`
        (64 MiB, 10,000 files, the document limits per file), `OSError`
        for a path that cannot be read, `TypeError` for another source;
        refusals are recorded in the bundle's status."""
        return self._activate_bundle(name, source, verification)

    def load_bundle(self, source: BundleSource, name: str | None = None,
                    verification: Verification | None = None) -> BundleInfo:
        """`activate_bundle` with the name defaulted: a path's file name
        without `.tar.gz` (as the CLI's `--bundle`), else `"bundle"`."""
        if name is None:
            if isinstance(source, (str, os.PathLike)):
                base = os.path.basename(os.path.normpath(os.fspath(source)))
                name = base.removesuffix(".tar.gz") or "bundle"
            else:
                name = "bundle"
        return self._activate_bundle(name, source, verification)

    def _activate_bundle(self, name: str, source: BundleSource,
                         verification: Verification | None,
                         etag: str | None = None) -> BundleInfo:
        """`activate_bundle`, recording `etag` (from a poller) in the status."""
        try:
            read = read_source(source)
            checked = lower_verification(verification)
            lowered = lower_source(read)

            def record(journal: Journal, raw: tuple[Any, ...]) -> None:
                info = BundleInfo.from_raw(raw)
                if journal.activate_bundle(name, read, checked, info.roots, info.deltas > 0):
                    self._compact()

            raw = self._change_with("engine.activate-bundle", (name, lowered, checked), record)
        except (PolicyError, OSError) as e:
            self._bundle_statuses.failed(name, describe(e))
            raise
        info = BundleInfo.from_raw(raw)
        self._bundle_statuses.activated(name, info.revision, time.time(), etag)
        return info

    def remove_bundle(self, name: str) -> None:
        """Deactivates the bundle `name` in every instance: its modules and
        the data under its roots go. Raises `NotFoundError`."""

        def record(journal: Journal, _: object) -> None:
            if journal.remove_bundle(name):
                self._compact()  # the data held may hold what the bundle cleared

        self._change_with("engine.remove-bundle", (name,), record)
        self._bundle_statuses.removed(name)

    def bundles(self) -> list[BundleInfo]:
        """The active bundles, by name."""
        raws: list[tuple[Any, ...]] = self._on_any(
            lambda s, abi: abi.call("engine.bundles", self._handles[s.index]))
        return [BundleInfo.from_raw(raw) for raw in raws]

    # -- evaluation -------------------------------------------------------------

    def evaluate(self, rule: str, input: Any = None) -> Any:
        """Evaluates `rule` (`data.authz.allow` or `authz/allow`) against
        `input` (any JSON-serializable value; None means no input document)
        and returns its value as Python (`None` is JSON null), on any free
        instance of the pool.

        Returns `UNDEFINED` when the rule is undefined. Raises
        `InvalidJsonError`, `LimitExceededError`, `NotFoundError` (no such
        package), `EvaluationError`, or after a trap `PolicyTimeoutError` /
        `SandboxTrapError`.
        """
        text = b"" if input is None else dumps(input, "input")
        sandbox = self._pool.acquire_any()
        try:
            raw = sandbox.abi.eval_rule(self._handles[sandbox.index], rule, text)
        except Trapped as t:
            sandbox.fail(t)
        finally:
            sandbox.lock.release()
        return UNDEFINED if raw is None else loads(raw)

    async def evaluate_async(self, rule: str, input: Any = None) -> Any:
        """`evaluate` in a worker thread, since evaluation can run up to the
        deadline; the event loop stays free meanwhile."""
        return await asyncio.to_thread(self.evaluate, rule, input)

    def query(self, query: str, input: Any = None) -> list[dict[str, Any]]:
        """Evaluates a Rego query and returns the OPA result set: a list of
        `{"expressions": [...], "bindings": {...}}`, empty when undefined.
        Raises as `evaluate` does (`EvaluationError` also for a query that
        does not parse)."""
        text = b"" if input is None else dumps(input, "input")
        raw: str = self._on_any(
            lambda s, abi: abi.call("engine.eval-query", self._handles[s.index], query, text))
        result: list[dict[str, Any]] = loads(raw)
        return result

    async def query_async(self, query: str, input: Any = None) -> list[dict[str, Any]]:
        """`query` in a worker thread."""
        return await asyncio.to_thread(self.query, query, input)

    # -- settings and state -------------------------------------------------------

    def set_strict_builtin_errors(self, on: bool) -> None:
        """When on, a builtin error (say `to_number("x")`) fails evaluation
        with `EvaluationError`; when off (the default, as in OPA) it makes
        the expression undefined. Changes the revision."""

        def record(j: Journal) -> None:
            j.strict = on

        self._change("engine.set-strict-builtin-errors", on, record=record)

    def set_eval_options(
        self, *, interpreter_only: bool = False, max_instructions: int | None = None
    ) -> None:
        """Sets how rules are evaluated from now on, in every instance, also
        after a recycle: `interpreter_only` runs every rule on the
        interpreter, never the RVM; `max_instructions` is the RVM
        instruction budget of one evaluation (None: the component's
        default), past which `evaluate` raises `LimitExceededError`.
        Answers do not depend on the path, so the revision does not change.
        Raises `ValueError` for a budget outside 0..2**64-1."""
        options = (interpreter_only, _budget(max_instructions))
        trapped: list[SandboxTrapError] = []
        with self._pool.locked_all() as sandboxes:
            self._options = options
            for sandbox in sandboxes:
                try:
                    sandbox.call(lambda abi: self._apply_options(sandbox, abi))
                except SandboxTrapError as e:  # rebuilt, with the new options
                    trapped.append(e)
        if trapped:
            raise trapped[0]

    def eval_options(self) -> EvalOptions:
        """The evaluation options in force, as the component reports them."""
        interpreter_only, budget = self._on_any(
            lambda s, abi: abi.call("engine.eval-options", self._handles[s.index]))
        return EvalOptions(interpreter_only=interpreter_only, max_instructions=budget)

    def get_metrics(self) -> dict[str, Any]:
        """Which path ran this engine's evaluations, summed over the pool's
        instances since each was created (a recycle starts that instance
        over): `rvm_evaluations`, `interpreter_evaluations` (a dict reason
        -> count, reasons as in WIT: `with-keyword`, `conflict`, ...),
        `rvm_programs_compiled`, `rvm_fallbacks` (the rules of the current
        revision on the interpreter: dicts `rule` / `reason` / `message`),
        plus `recycles` and `timeouts`, and `bundles`: the status of each
        bundle (`BundleStatus` as a dict) by name."""
        raws = [
            s.call(lambda abi: abi.call("engine.eval-stats", self._handles[s.index]))
            for s in self._pool.sandboxes
        ]
        metrics = merge_eval_metrics(raws)
        metrics["recycles"] = self._pool.recycles
        metrics["timeouts"] = self._pool.timeouts
        metrics["bundles"] = self._bundle_statuses.snapshot()
        return metrics

    def prometheus(self) -> str:
        """The evaluation metrics in Prometheus text format:
        `sark_policy_evaluations_total{path="rvm"}` and
        `{path="interpreter",reason="..."}`,
        `sark_policy_rvm_programs_compiled_total` and the gauge
        `sark_policy_rvm_fallback_rules`, then the bundles' status
        (`sark_policy_bundle_*`, see `BundleStatus`), with the Rust host's names."""
        return (prometheus_eval_text(self.get_metrics())
                + prometheus_bundle_text(self._bundle_statuses.all()))

    @property
    def strict_builtin_errors(self) -> bool:
        """Whether builtin errors fail evaluation (see
        `set_strict_builtin_errors`)."""
        return self._journal.strict

    @property
    def revision(self) -> int:
        """A counter that changes on every successful policy or data change
        (the first instance's; a recycle may change it); decisions are
        cached per revision."""
        return self._revisions[0]

    def run_tests(self, pattern: str = "") -> list[TestResult]:
        """Runs the Rego unit tests of the policies held, as `opa test`:
        every `test_*` rule (`todo_test_*` ones are reported skipped), once
        each with no input, in file order, timed inside the component.
        `pattern`, a regular expression (empty: every test), keeps the tests
        whose full name (`data.pkg.test_x`) it matches, as `opa test
        --run`. One call under the load deadline (the run is a batch);
        changes nothing. Raises `OtherPolicyError` for a pattern that is not
        a valid regular expression; a test's own failure or error is its
        result."""
        sandbox = self._pool.acquire_any()
        try:
            raws: list[tuple[Any, ...]] = sandbox.call(
                lambda abi: abi.call("engine.run-tests", self._handles[sandbox.index], pattern),
                load=True)
        finally:
            sandbox.lock.release()
        return [TestResult(*raw) for raw in raws]

    def limits(self) -> DocumentLimits:
        """The document limits the component enforces."""
        depth, size = self._on_any(
            lambda s, abi: abi.call("engine.limits", self._handles[s.index]))
        return DocumentLimits(max_depth=depth, max_bytes=size)

    @property
    def recycles(self) -> int:
        """How many times an instance of this engine was replaced after a
        trap (over the pool)."""
        return self._pool.recycles

    @property
    def timeouts(self) -> int:
        """How many calls into this engine's instances hit their deadline."""
        return self._pool.timeouts

    def close(self) -> None:
        """Drops the engine in the guest and frees its instances; later calls
        raise `OtherPolicyError`. Idempotent."""
        drop_and_close(self._pool, self._resources)

    def __enter__(self) -> PolicyEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe(error: BaseException) -> str:
    """An error as a bundle status shows it: `<kind>: <message>`."""
    if isinstance(error, PolicyError):
        return f"{error.kind}: {error.message}"
    return f"{type(error).__name__}: {error}"


def _budget(max_instructions: int | None) -> int | None:
    """Checks an RVM instruction budget (None: the component's default)."""
    if max_instructions is not None and not 0 <= max_instructions <= U64_MAX:
        raise ValueError(f"max_instructions must be in 0..2**64-1, not {max_instructions}")
    return max_instructions
