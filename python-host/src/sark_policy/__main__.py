"""`python -m sark_policy test PATH...`: Rego unit tests, as `opa test`
(the same command as the Rust host's `sark-policy test`)."""

from __future__ import annotations

import argparse
import sys

from ._engine import PolicyEngine
from ._errors import PolicyError
from ._sandbox import SandboxLimits
from ._testrun import collect, exit_status, json_report, load, pretty


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sark_policy",
        description="Rego policies in a WebAssembly sandbox, with a decision cache.")
    commands = parser.add_subparsers(dest="command", required=True)
    test = commands.add_parser(
        "test", help="run Rego unit tests (test_* rules) as `opa test` does",
        description="Run Rego unit tests (test_* rules) as `opa test` does. Exit status: "
                    "0 when every test passed, 2 when one failed, erred or was skipped, "
                    "1 when a file could not be loaded.")
    test.add_argument(
        "paths", nargs="+", metavar="PATH",
        help="policy files and directories; directories are walked recursively: *.rego "
             "files are modules, *.json / *.yaml / *.yml files are data loaded under the "
             "path of their directory relative to the directory given")
    test.add_argument("-r", "--run", default="", metavar="REGEX",
                      help="run only the tests whose full name (data.pkg.test_x) this "
                           "regular expression matches")
    test.add_argument("-f", "--format", choices=("pretty", "json"), default="pretty",
                      help="pretty (OPA's text report, the default) or json (OPA's list "
                           "of results)")
    test.add_argument("-v", "--verbose", action="store_true",
                      help="print every test, not only those that did not pass")
    test.add_argument("-z", "--exit-zero-on-skipped", action="store_true",
                      help="skipped tests (todo_test_*) leave the exit status 0")
    test.add_argument("--v0-compatible", action="store_true",
                      help="read the policies as Rego v0 (written for OPA before 1.0)")
    test.add_argument("--deadline-ms", type=float, default=30_000.0,
                      help="deadline for loading each file and for the whole run "
                           "(default 30000)")
    return parser


def _test(args: argparse.Namespace) -> int:
    limits = SandboxLimits(load_deadline_ms=args.deadline_ms)
    with PolicyEngine(limits=limits, rego_version="v0" if args.v0_compatible else "v1") as engine:
        load(engine, collect(args.paths))
        results = engine.run_tests(args.run)
    if args.format == "json":
        sys.stdout.write(json_report(results))
    else:
        sys.stdout.write(pretty(results, args.verbose))
    return exit_status(results, args.exit_zero_on_skipped)


def main(argv: list[str] | None = None) -> int:
    """Runs the command line `argv` (default `sys.argv[1:]`) and returns
    the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _test(args)
    except (OSError, ValueError, PolicyError) as e:
        print(f"sark_policy: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
