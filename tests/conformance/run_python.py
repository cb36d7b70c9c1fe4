"""Runs conformance cases through the Python host (sark_policy on
wasmtime-py) and writes each case's raw outcome as JSON.

Called by the Rust conformance runner (tests/conformance/main.rs), which
parses the YAML, compares the outcomes of all three ways and prints the
table:  run_python.py CASES.json OUTCOMES.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from sark_policy import PolicyEngine, PolicyError, SandboxLimits


# Generous deadline, as in the Rust runner: slow is not wrong.
LIMITS = SandboxLimits(deadline_ms=60_000)


def run(case: dict[str, Any]) -> dict[str, Any]:
    try:
        with PolicyEngine(limits=LIMITS, strict_builtin_errors=case["strict"]) as engine:
            for i, module in enumerate(case["modules"]):
                engine.add_policy(f"module{i}.rego", module)
            if case["data"] is not None:
                engine.add_data(json.dumps(case["data"]))
            input_text = case["input"]
            result = engine.query(case["query"], None if input_text is None else json.loads(input_text))
    except PolicyError as e:
        return {"kind": "error", "message": str(e)}
    return {"kind": "result", "value": result}


def main() -> int:
    cases_path, out_path = sys.argv[1], sys.argv[2]
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    outcomes = {case["id"]: run(case) for case in cases}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(outcomes, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
