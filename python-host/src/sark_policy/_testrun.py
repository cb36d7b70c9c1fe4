"""`python -m sark_policy test`: Rego unit tests, as `opa test`.

The files are found and read here and the report is printed here;
discovery, evaluation and timing happen in the component
(`PolicyEngine.run_tests`), as for the Rust host's `sark-policy test`.

Files load as `opa test` loads them: paths are walked recursively (entries
in name order), `*.rego` files are modules (named by their path), and
`*.json`, `*.yaml` and `*.yml` files are data placed under the path of
their directory relative to the directory given (a file given by name, or
one at the top of a directory given, merges at the root of `data`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._engine import PolicyEngine, TestResult
from ._errors import InvalidPolicyError

__all__ = ["Files", "collect", "load", "pretty", "json_report", "go_duration", "exit_status"]


@dataclass
class _DataFile:
    path: str
    prefix: list[str]
    yaml: bool
    text: str


@dataclass
class Files:
    """Modules (name, source) and data files found under the paths of a run."""

    modules: list[tuple[str, str]] = field(default_factory=list)
    data: list[_DataFile] = field(default_factory=list)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def collect(paths: Iterable[str]) -> Files:
    """Finds the modules and data files under `paths`. Raises `OSError` for
    a path that cannot be read, `ValueError` for a file given by name that
    is not `.rego`, `.json`, `.yaml` or `.yml`."""
    files = Files()
    for p in paths:
        _walk(p, 0, [], files)
    return files


def _walk(path: str, depth: int, prefix: list[str], out: Files) -> None:
    if os.path.isdir(path):
        # The directory given is the root; those below it extend the path.
        sub = prefix + [os.path.basename(os.path.normpath(path))] if depth > 0 else prefix
        for name in sorted(os.listdir(path)):
            _walk(os.path.join(path, name), depth + 1, sub, out)
        return
    ext = os.path.splitext(path)[1]
    if ext == ".rego":
        out.modules.append((path, _read(path)))
    elif ext in (".json", ".yaml", ".yml"):
        out.data.append(_DataFile(path, prefix, ext != ".json", _read(path)))
    elif depth == 0:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file or directory")
        raise ValueError(f"{path}: not a .rego, .json, .yaml or .yml file")


def load(engine: PolicyEngine, files: Files) -> None:
    """Loads `files` into `engine`: every module (one that refers to a
    module not loaded yet is tried again once the others are in), then
    every data document under its path. Raises `ValueError` naming the file
    for a document that cannot be read, and what the engine raises."""
    # Parse the data first: YAML is read by the engine's own
    # `yaml.unmarshal`, before any module could fail to compile.
    docs = [(d, _document(engine, d)) for d in files.data]
    pending = list(files.modules)
    while pending:
        failed: list[tuple[str, str]] = []
        first: InvalidPolicyError | None = None
        for name, source in pending:
            try:
                engine.add_policy(name, source)
            except InvalidPolicyError as e:
                first = first or e
                failed.append((name, source))
        if len(failed) == len(pending):
            assert first is not None
            raise first
        pending = failed
    for d, doc in docs:
        try:
            engine.add_data(doc)
        except Exception as e:
            raise ValueError(f"{d.path}: {e}") from e


def _document(engine: PolicyEngine, d: _DataFile) -> dict[str, Any]:
    """A data file's document, nested under its directory's path."""
    value: Any
    if d.yaml:
        result = engine.query("x := yaml.unmarshal(input)", d.text)
        if not result:
            raise ValueError(f"{d.path}: not valid YAML")
        value = result[0]["bindings"]["x"]
    else:
        try:
            value = json.loads(d.text)
        except ValueError as e:
            raise ValueError(f"{d.path}: {e}") from e
    for key in reversed(d.prefix):
        value = {key: value}
    if not isinstance(value, dict):
        raise ValueError(f"{d.path}: a data document at the root of data must be an object")
    return value


_WORDS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "skip": "SKIPPED"}


def pretty(results: list[TestResult], verbose: bool = False) -> str:
    """OPA's text report: for each test that did not pass (each test when
    `verbose`), its location, `data.pkg.test_x: FAIL (1.2ms)` and its error
    or failing cases indented; then a rule and `PASS: 3/4`, `FAIL: 1/4`,
    `SKIPPED: ...`, `ERROR: ...` for the counts that are not zero."""
    out: list[str] = []
    last_file: str | None = None
    dirty = False
    for r in results:
        if not verbose and r.outcome == "pass":
            continue
        if last_file is not None and last_file != r.file:
            out.append("")
        last_file = r.file
        dirty = True
        out.append(f"{r.file}:{r.row}:")
        if r.outcome == "skip":
            out.append(f"{r.full_name}: SKIPPED")
        else:
            out.append(f"{r.full_name}: {_WORDS[r.outcome]} ({go_duration(r.duration_ns)})")
        out.extend(f"  {line}" for line in r.message.splitlines())
    if dirty:
        out.append("-" * 80)
    total = len(results)
    for outcome in ("pass", "fail", "skip", "error"):
        n = sum(1 for r in results if r.outcome == outcome)
        if n:
            out.append(f"{_WORDS[outcome]}: {n}/{total}")
    return "".join(line + "\n" for line in out)


def json_report(results: list[TestResult]) -> str:
    """OPA's JSON report: a list of results (`error`, `location`,
    `package`, `name`, `duration` in nanoseconds, `fail`, `skip`),
    indented by two spaces."""
    items = []
    for r in results:
        item: dict[str, Any] = {}
        if r.outcome == "error":
            item["error"] = {"code": "eval_error", "message": r.message}
        item["location"] = {"file": r.file, "row": r.row, "col": r.col}
        item["package"] = r.package
        item["name"] = r.name
        item["duration"] = r.duration_ns
        if r.outcome == "fail":
            item["fail"] = True
        if r.outcome == "skip":
            item["skip"] = True
        items.append(item)
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


def go_duration(ns: int) -> str:
    """A duration in nanoseconds as Go's `time.Duration.String` prints it:
    `0s`, `850ns`, `12.5µs`, `1.234567ms`, `2.5s`, `1m30s`, `1h0m0s`."""
    if ns == 0:
        return "0s"
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{_decimal(ns, 1_000, 3)}µs"
    if ns < 1_000_000_000:
        return f"{_decimal(ns, 1_000_000, 6)}ms"
    h, m = ns // 3_600_000_000_000, ns // 60_000_000_000 % 60
    s = _decimal(ns % 60_000_000_000, 1_000_000_000, 9)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def _decimal(n: int, unit: int, digits: int) -> str:
    whole, frac = divmod(n, unit)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:0{digits}d}".rstrip("0")


def exit_status(results: list[TestResult], exit_zero_on_skipped: bool = False) -> int:
    """`opa test`'s status: 0 when every test passed, 2 when one failed,
    erred or was skipped (unless `exit_zero_on_skipped`)."""
    for r in results:
        if r.outcome in ("fail", "error") or (r.outcome == "skip" and not exit_zero_on_skipped):
            return 2
    return 0
