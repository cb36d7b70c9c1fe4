"""Rego unit tests: `PolicyEngine.run_tests` and `python -m sark_policy
test`, on the fixtures in tests/testrun (shared with the Rust CLI's tests),
and the two CLIs side by side."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sark_policy import OtherPolicyError, PolicyEngine, TestResult
from sark_policy._testrun import go_duration

REPO = Path(__file__).resolve().parents[2]
SUITE = "tests/testrun/suite"
RUST_CLI = REPO / "target" / "release" / "sark-policy"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m sark_policy test ARGS` from the repository root (so file
    names in the report are `tests/testrun/...`)."""
    return subprocess.run([sys.executable, "-m", "sark_policy", "test", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def normalized(report: str) -> str:
    """A report with durations replaced by `D`."""
    report = re.sub(r"\((\d+(\.\d+)?(ns|µs|ms|s|m|h))+\)", "(D)", report)
    return re.sub(r'"duration": \d+', '"duration": 0', report)


# -- the engine's API -------------------------------------------------------------

def test_run_tests_in_the_engine() -> None:
    e = PolicyEngine()
    e.add_policy("lib.rego", "package lib\nallow if input.user == \"alice\"\n")
    e.add_policy("lib_test.rego", """package lib_test
import data.lib
test_alice if lib.allow with input as {"user": "alice"}
test_bob if lib.allow with input as {"user": "bob"}
x := 1
x := 2
test_error if x == 1
todo_test_later if false
""")
    revision = e.revision
    results = e.run_tests()
    assert [(r.name, r.outcome) for r in results] == [
        ("test_alice", "pass"), ("test_bob", "fail"), ("test_error", "error"),
        ("todo_test_later", "skip")]
    alice = results[0]
    assert isinstance(alice, TestResult)
    assert (alice.package, alice.file, alice.row, alice.col) == (
        "data.lib_test", "lib_test.rego", 3, 1)
    assert alice.full_name == "data.lib_test.test_alice"
    assert alice.duration_ns > 0 and alice.message == ""
    assert "lib_test.rego" in results[2].message
    assert results[3].duration_ns == 0
    assert [r.name for r in e.run_tests("alice|bob")] == ["test_alice", "test_bob"]
    with pytest.raises(OtherPolicyError, match="regular expression"):
        e.run_tests("(")
    assert e.revision == revision  # a run changes nothing


def test_go_durations() -> None:
    assert [go_duration(n) for n in (0, 850, 12_500, 1_234_567, 2_500_000_000,
                                     90_000_000_000, 3_600_000_000_000)] == [
        "0s", "850ns", "12.5µs", "1.234567ms", "2.5s", "1m30s", "1h0m0s"]


# -- the command line -------------------------------------------------------------

EXPECTED = """\
tests/testrun/suite/authz_test.rego:12:
data.authz_test.test_bob_reads: FAIL (D)
tests/testrun/suite/authz_test.rego:15:
data.authz_test.test_level_conflict: ERROR (D)
  {error}
tests/testrun/suite/authz_test.rego:17:
data.authz_test.todo_test_audit_log: SKIPPED
--------------------------------------------------------------------------------
PASS: 5/8
FAIL: 1/8
SKIPPED: 1/8
ERROR: 1/8
"""


def test_a_directory_with_passing_failing_and_erroring_tests() -> None:
    out = cli(SUITE)
    assert out.returncode == 2, out.stderr
    report = normalized(out.stdout)
    error_lines = report.split("ERROR (D)\n", 1)[1].split("tests/testrun/suite/authz_test.rego:17:")[0]
    assert error_lines.startswith("  ") and "authz" in error_lines
    assert report == EXPECTED.replace("  {error}\n", error_lines)


def test_verbose_lists_every_test_and_data_loads_under_its_directory() -> None:
    out = cli("-v", SUITE)
    assert out.returncode == 2
    lines = normalized(out.stdout).splitlines()
    passed = [line for line in lines if line.endswith(": PASS (D)")]
    assert passed == [
        "data.authz_test.test_admin_allowed: PASS (D)",  # data.json at the root
        "data.authz_test.test_reader_reads: PASS (D)",  # roles/data.yaml: data.roles
        "data.authz_test.test_reader_cannot_write: PASS (D)",
        "data.roles_test.test_roles_from_yaml: PASS (D)",
        "data.roles_test.test_each_role: PASS (D)",
    ]
    assert "tests/testrun/suite/roles/roles_test.rego:3:" in lines
    assert lines[lines.index("tests/testrun/suite/roles/roles_test.rego:3:") - 1] == ""


def test_run_selects_tests_by_regex() -> None:
    out = cli("--run", "reader", SUITE)
    assert (out.returncode, out.stdout) == (0, "PASS: 2/2\n")
    out = cli("-r", r"^data\.authz_test\.test_bob", SUITE)
    assert out.returncode == 2
    assert normalized(out.stdout).endswith("-" * 80 + "\nFAIL: 1/1\n")
    out = cli("--run", "nothing matches", SUITE)
    assert (out.returncode, out.stdout) == (0, "")
    out = cli("--run", "(", SUITE)
    assert out.returncode == 1 and "regular expression" in out.stderr


def test_skipped_tests_and_exit_zero_on_skipped() -> None:
    assert cli("--run", "todo", SUITE).returncode == 2
    out = cli("-z", "--run", "todo|roles", SUITE)
    assert out.returncode == 0
    assert out.stdout.endswith("PASS: 2/3\nSKIPPED: 1/3\n")


def test_json_format() -> None:
    out = cli("--format", "json", SUITE)
    assert out.returncode == 2
    results = json.loads(out.stdout)
    assert [r["name"] for r in results] == [
        "test_admin_allowed", "test_reader_reads", "test_reader_cannot_write",
        "test_bob_reads", "test_level_conflict", "todo_test_audit_log",
        "test_roles_from_yaml", "test_each_role"]
    first = results[0]
    assert list(first) == ["location", "package", "name", "duration"]
    assert first["location"] == {"file": "tests/testrun/suite/authz_test.rego", "row": 5, "col": 1}
    assert first["package"] == "data.authz_test" and first["duration"] > 0
    assert results[3]["fail"] is True and "error" not in results[3]
    error = results[4]
    assert list(error) == ["error", "location", "package", "name", "duration"]
    assert error["error"]["code"] == "eval_error" and error["error"]["message"]
    assert results[5]["skip"] is True and results[5]["duration"] == 0


def test_v0_compatible() -> None:
    out = cli("tests/testrun/v0")
    assert out.returncode == 1 and "tests/testrun/v0/policy" in out.stderr
    out = cli("--v0-compatible", "tests/testrun/v0")
    assert (out.returncode, out.stdout) == (0, "PASS: 2/2\n")


def test_files_given_by_name_and_bad_paths() -> None:
    # A data file at the top of the directory given merges at the root of
    # data (as in `opa test`): given roles/ alone, data.roles is undefined.
    out = cli("-v", f"{SUITE}/roles")
    assert out.returncode == 2
    assert "data.roles_test.test_roles_from_yaml: FAIL" in out.stdout
    out = cli(f"{SUITE}/authz.rego", f"{SUITE}/authz_test.rego", f"{SUITE}/data.json",
              "--run", "admin")
    assert (out.returncode, out.stdout) == (0, "PASS: 1/1\n")
    out = cli("tests/testrun/no-such-dir")
    assert out.returncode == 1 and "no-such-dir" in out.stderr
    out = cli("tests/testrun/README.md")
    assert out.returncode == 1 and "not a .rego" in out.stderr


@pytest.mark.parametrize("args", [["-v"], ["--format", "json"], ["--run", "role"], []])
def test_both_clis_report_alike(args: list[str]) -> None:
    # make test builds the Rust CLI first; a missing one is a failure, not a skip.
    assert RUST_CLI.exists(), "the Rust CLI is not built: run make build"
    py = cli(*args, SUITE)
    rust = subprocess.run([str(RUST_CLI), "test", *args, SUITE], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ))
    assert (py.returncode, normalized(py.stdout)) == (rust.returncode, normalized(rust.stdout))
