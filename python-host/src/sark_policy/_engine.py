"""`PolicyEngine`: Rego policies and data in a sandboxed instance."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wasmtime.component import ResourceAny

from ._abi import Bindings, Trapped
from ._json import UNDEFINED, data_text, dumps, loads
from ._metrics import prometheus_eval_text
from ._rvm import U64_MAX, EvalOptions, eval_metrics
from ._sandbox import Sandbox, SandboxLimits

__all__ = ["PolicyEngine", "DocumentLimits"]


@dataclass(frozen=True)
class DocumentLimits:
    """The limits the component enforces on every JSON document and policy
    source: nesting depth and size in bytes."""

    max_depth: int
    max_bytes: int


@dataclass
class _Journal:
    """The successful changes, enough to rebuild the engine after a
    recycle: policies by name (a later add replaces an earlier one, a
    remove forgets it), data changes since the last replace or clear, and
    the strict flag. Policy order does not matter: a module set compiles as
    a whole and regorus resolves references at evaluation."""

    policies: dict[str, str] = field(default_factory=dict)
    data: list[tuple[str, str | bytes]] = field(default_factory=list)
    strict: bool = False


class PolicyEngine:
    """A Rego engine in its own sandboxed WebAssembly instance.

    Thread-safe: calls are serialised by the sandbox lock. Every failed call
    leaves policies, data and revision as they were. After a trap or a
    timeout (`SandboxTrapError`, `PolicyTimeoutError`) the instance is
    replaced by a fresh one into which the engine's journal of successful
    changes is replayed, so the next call sees the same policies, data,
    strict setting and evaluation options (the `revision` number changes).

    Rules run on regorus's RVM, compiled once per rule and revision, or on
    its interpreter where the RVM cannot give OPA's answer (`get_metrics`
    says which and why); `interpreter_only` forces the interpreter and
    `max_instructions` bounds the RVM work of one evaluation (default: the
    component's, 50,000,000).
    """

    def __init__(
        self,
        *,
        limits: SandboxLimits | None = None,
        strict_builtin_errors: bool = False,
        interpreter_only: bool = False,
        max_instructions: int | None = None,
    ) -> None:
        """Creates an empty engine. Raises `FileNotFoundError` when the
        package has no component, `ValueError` for a `max_instructions`
        outside 0..2**64-1."""
        self._options = (interpreter_only, _budget(max_instructions))
        self._sandbox = Sandbox(limits)
        self._journal = _Journal()
        self._resource: ResourceAny
        self._handle = 0
        self._revision = 0
        self._default_budget = 0
        with self._sandbox.loading() as abi:
            self._create(abi)
        self._sandbox.on_recycle(self._rebuild)
        if strict_builtin_errors:
            self.set_strict_builtin_errors(True)

    def _create(self, abi: Bindings) -> None:
        """A new engine resource with this engine's evaluation options
        (which, unlike the journal, also survive a failed replay)."""
        self._resource = abi.new_engine()
        self._handle = abi.handle(self._resource)
        self._revision = abi.call("engine.revision", self._handle)
        self._default_budget = abi.call("engine.eval-options", self._handle)[1]
        self._apply_options(abi)

    def _apply_options(self, abi: Bindings) -> None:
        interpreter_only, budget = self._options
        abi.call("engine.set-eval-options", self._handle,
                 (interpreter_only, self._default_budget if budget is None else budget))

    def _rebuild(self, replay: bool) -> None:
        abi = self._sandbox.abi
        self._create(abi)
        if not replay:
            self._journal = _Journal()
            return
        j = self._journal
        if j.strict:
            abi.call("engine.set-strict-builtin-errors", self._handle, True)
        for name, source in j.policies.items():
            abi.call("engine.add-policy", self._handle, name, source)
        for op, text in j.data:
            abi.call(op, self._handle, text)
        self._revision = abi.call("engine.revision", self._handle)

    def _change(self, name: str, *args: Any) -> Any:
        """Calls a changing function under the load deadline and refreshes
        the cached revision."""

        def op(abi: Bindings) -> Any:
            result = abi.call(name, self._handle, *args)
            self._revision = abi.call("engine.revision", self._handle)
            return result

        return self._sandbox.call(op, load=True)

    # -- policies -------------------------------------------------------------

    def add_policy(self, name: str, source: str) -> str:
        """Adds or replaces the Rego module `name` (a file name, used in error
        positions) and returns its package, e.g. `data.authz`. Raises
        `InvalidPolicyError` (with position) or `LimitExceededError`."""
        with self._sandbox.lock:
            package: str = self._change("engine.add-policy", name, source)
            self._journal.policies.pop(name, None)
            self._journal.policies[name] = source
        return package

    def remove_policy(self, name: str) -> None:
        """Removes the module `name`. Raises `NotFoundError`."""
        with self._sandbox.lock:
            self._change("engine.remove-policy", name)
            del self._journal.policies[name]

    def policies(self) -> list[str]:
        """Names of the modules held, sorted."""
        names: list[str] = self._sandbox.call(lambda abi: abi.call("engine.policies", self._handle))
        return names

    def packages(self) -> list[str]:
        """Packages of the modules held (`data.<path>`), sorted, deduplicated."""
        names: list[str] = self._sandbox.call(lambda abi: abi.call("engine.packages", self._handle))
        return names

    # -- data -----------------------------------------------------------------

    def add_data(self, data: Mapping[str, Any] | str) -> None:
        """Merges a JSON object (a mapping, or JSON text) into the data
        document. Raises `InvalidJsonError`, `LimitExceededError`, or
        `EvaluationError` when it conflicts with existing data (the data is
        then unchanged)."""
        text = data_text(data)
        with self._sandbox.lock:
            self._change("engine.add-data", text)
            self._journal.data.append(("engine.add-data", text))

    def replace_data(self, data: Mapping[str, Any] | str) -> None:
        """Replaces the whole data document with a JSON object. Raises
        `InvalidJsonError` or `LimitExceededError`."""
        text = data_text(data)
        with self._sandbox.lock:
            self._change("engine.replace-data", text)
            self._journal.data = [("engine.replace-data", text)]

    def clear_data(self) -> None:
        """Empties the data document."""
        with self._sandbox.lock:
            self._change("engine.clear-data")
            self._journal.data = []

    # -- evaluation -------------------------------------------------------------

    def evaluate(self, rule: str, input: Any = None) -> Any:
        """Evaluates `rule` (`data.authz.allow` or `authz/allow`) against
        `input` (any JSON-serializable value; None means no input document)
        and returns its value as Python (`None` is JSON null).

        Returns `UNDEFINED` when the rule is undefined. Raises
        `InvalidJsonError`, `LimitExceededError`, `NotFoundError` (no such
        package), `EvaluationError`, or after a trap `PolicyTimeoutError` /
        `SandboxTrapError`.
        """
        text = b"" if input is None else dumps(input, "input")
        sandbox = self._sandbox
        with sandbox.lock:
            try:
                raw = sandbox.abi.eval_rule(self._handle, rule, text)
            except Trapped as t:
                sandbox.fail(t)
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
        raw: str = self._sandbox.call(
            lambda abi: abi.call("engine.eval-query", self._handle, query, text)
        )
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
        with self._sandbox.lock:
            self._change("engine.set-strict-builtin-errors", on)
            self._journal.strict = on

    def set_eval_options(
        self, *, interpreter_only: bool = False, max_instructions: int | None = None
    ) -> None:
        """Sets how rules are evaluated from now on, also after a recycle:
        `interpreter_only` runs every rule on the interpreter, never the RVM;
        `max_instructions` is the RVM instruction budget of one evaluation
        (None: the component's default), past which `evaluate` raises
        `LimitExceededError`. Answers do not depend on the path, so the
        revision does not change. Raises `ValueError` for a budget outside
        0..2**64-1."""
        options = (interpreter_only, _budget(max_instructions))
        with self._sandbox.lock:
            self._options = options
            self._sandbox.call(self._apply_options)

    def eval_options(self) -> EvalOptions:
        """The evaluation options in force, as the component reports them."""
        interpreter_only, budget = self._sandbox.call(
            lambda abi: abi.call("engine.eval-options", self._handle))
        return EvalOptions(interpreter_only=interpreter_only, max_instructions=budget)

    def get_metrics(self) -> dict[str, Any]:
        """Which path ran this engine's evaluations since its instance was
        created (a recycle starts over): `rvm_evaluations`,
        `interpreter_evaluations` (a dict reason -> count, reasons as in WIT:
        `with-keyword`, `conflict`, ...), `rvm_programs_compiled`,
        `rvm_fallbacks` (the rules of the current revision on the
        interpreter: dicts `rule` / `reason` / `message`), plus `recycles`
        and `timeouts`."""
        raw = self._sandbox.call(lambda abi: abi.call("engine.eval-stats", self._handle))
        metrics = eval_metrics(raw)
        metrics["recycles"] = self._sandbox.recycles
        metrics["timeouts"] = self._sandbox.timeouts
        return metrics

    def prometheus(self) -> str:
        """The evaluation metrics in Prometheus text format:
        `sark_policy_evaluations_total{path="rvm"}` and
        `{path="interpreter",reason="..."}`,
        `sark_policy_rvm_programs_compiled_total` and the gauge
        `sark_policy_rvm_fallback_rules` (the Rust host's names)."""
        return prometheus_eval_text(self.get_metrics())

    @property
    def strict_builtin_errors(self) -> bool:
        """Whether builtin errors fail evaluation (see
        `set_strict_builtin_errors`)."""
        return self._journal.strict

    @property
    def revision(self) -> int:
        """A counter that changes on every successful policy or data change
        (and on a recycle); decisions are cached per revision."""
        return self._revision

    def limits(self) -> DocumentLimits:
        """The document limits the component enforces."""
        depth, size = self._sandbox.call(lambda abi: abi.call("engine.limits", self._handle))
        return DocumentLimits(max_depth=depth, max_bytes=size)

    @property
    def recycles(self) -> int:
        """How many times this engine's instance was replaced after a trap."""
        return self._sandbox.recycles

    @property
    def timeouts(self) -> int:
        """How many calls into this engine's instance hit their deadline."""
        return self._sandbox.timeouts

    def close(self) -> None:
        """Drops the engine in the guest and frees its instance; later calls
        raise `OtherPolicyError`. Idempotent."""
        with self._sandbox.lock:
            if not self._sandbox.closed:
                self._sandbox.abi.drop(self._resource)
                self._sandbox.close()

    def __enter__(self) -> PolicyEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _budget(max_instructions: int | None) -> int | None:
    """Checks an RVM instruction budget (None: the component's default)."""
    if max_instructions is not None and not 0 <= max_instructions <= U64_MAX:
        raise ValueError(f"max_instructions must be in 0..2**64-1, not {max_instructions}")
    return max_instructions
