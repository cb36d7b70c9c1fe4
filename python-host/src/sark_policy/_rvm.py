"""How an engine evaluates rules: on regorus's RVM or its interpreter.

The component compiles each evaluated rule to an RVM program and runs it
there, falling back to the interpreter per rule with a reason (WIT
`fallback-reason`, kebab-case: `with-keyword`, `conflict`, ...). This
module holds the options (`EvalOptions`) and turns the component's
`eval-stats` into the plain metrics dict the hosts report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["EvalOptions", "U64_MAX", "eval_metrics", "merge_eval_metrics"]

U64_MAX = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class EvalOptions:
    """The evaluation options of an engine (WIT `eval-options`).

    - `interpreter_only`: run every rule on the interpreter, never the RVM
      (to compare the two; answers are the same).
    - `max_instructions`: the most RVM instructions one rule evaluation may
      dispatch; past it the evaluation raises `LimitExceededError`.
    """

    interpreter_only: bool
    max_instructions: int


# (rvm, [(reason, count)], compiled, [(rule, reason, message)]): what the
# lean call path lifts `eval-stats` to.
RawStats = tuple[int, list[tuple[str, int]], int, list[tuple[str, str, str]]]


def eval_metrics(raw: RawStats) -> dict[str, Any]:
    """The evaluation metrics of one engine from its `eval-stats`:

    - `rvm_evaluations`: rule evaluations run on the RVM;
    - `interpreter_evaluations`: evaluations run on the interpreter, by
      reason (`{"with-keyword": 3}`; reasons never seen are absent);
    - `rvm_programs_compiled`: RVM programs compiled (one per rule and
      revision evaluated);
    - `rvm_fallbacks`: the rules of the current revision that run on the
      interpreter, as `{"rule", "reason", "message"}` dicts, without
      duplicates, sorted by rule.
    """
    rvm, interpreted, compiled, fallbacks = raw
    seen: dict[tuple[str, str, str], None] = dict.fromkeys(fallbacks)
    return {
        "rvm_evaluations": rvm,
        "interpreter_evaluations": {reason: count for reason, count in interpreted},
        "rvm_programs_compiled": compiled,
        "rvm_fallbacks": [
            {"rule": rule, "reason": reason, "message": message}
            for rule, reason, message in seen
        ],
    }


def merge_eval_metrics(raws: list[RawStats]) -> dict[str, Any]:
    """`eval_metrics` over the instances of a pool: counters summed (reasons
    in the order first seen), the fallback rules of every instance listed
    once, sorted by rule (as the Rust host's `paths::merge`)."""
    if len(raws) == 1:
        return eval_metrics(raws[0])
    interpreted: dict[str, int] = {}
    fallbacks: set[tuple[str, str, str]] = set()
    for _, reasons, _, rules in raws:
        for reason, count in reasons:
            interpreted[reason] = interpreted.get(reason, 0) + count
        fallbacks.update(rules)
    return eval_metrics((
        sum(raw[0] for raw in raws),
        list(interpreted.items()),
        sum(raw[2] for raw in raws),
        sorted(fallbacks),
    ))
