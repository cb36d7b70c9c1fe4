"""The wheel, as users get it: installed into a fresh venv outside the
checkout, `import sark_policy` and a first decision work with nothing else
from the repository.

`make test-python` passes the wheel `make wheel` built (`SARK_WHEEL`);
without it the test builds one from python-host/ first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

HOST = Path(__file__).resolve().parents[1]
REPO = HOST.parent

FIRST_DECISION = textwrap.dedent("""\
    import pathlib, sys
    import sark_policy
    from sark_policy import Authorizer, PolicyEngine
    from sark_policy.compat import RustCache, RustOPAEngine

    here = pathlib.Path(sark_policy.__file__).resolve()
    assert here.is_relative_to(pathlib.Path(sys.prefix).resolve()), here
    engine = PolicyEngine()
    engine.add_policy("authz.rego", 'package authz\\nallow if input.user == "alice"\\n')
    authz = Authorizer(engine, "data.authz.allow")
    first = authz.decide("alice", "read", "doc:1")
    again = authz.decide("alice", "read", "doc:1")
    assert (first.value, first.cached, again.cached) == (True, False, True)
    opa = RustOPAEngine()
    opa.load_policy("p", "package p\\nallow { input.x == 1 }")
    assert opa.evaluate("data.p.allow", {"x": 1}) is True
    cache = RustCache(10, 60)
    cache.set("k", "v")
    assert cache.get("k") == "v"
    print("decided", first.value)
    """)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("SARK_WHEEL")
    if given:
        return Path(given).resolve()
    # make test builds the component first; a missing one is a failure, not a skip.
    assert (HOST / "src" / "sark_policy" / "sark_policy.wasm").exists(), \
        "no component in python-host: run make build"
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
                    str(HOST)], check=True, timeout=600)
    return next(out.glob("sark_policy-*.whl"))


def test_the_wheel_carries_the_component(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "sark_policy/sark_policy.wasm" in names
    assert "sark_policy/py.typed" in names
    assert "sark_policy/compat.py" in names and "sark_policy/__main__.py" in names


def test_installed_in_a_fresh_venv_it_decides(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    assert not venv.resolve().is_relative_to(REPO.resolve())
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True,
                   timeout=900)
    # Nothing from the checkout: run in an empty directory, with a fresh
    # artifact cache and no PYTHONPATH.
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["SARK_POLICY_CACHE_DIR"] = str(tmp_path / "artifacts")
    out = subprocess.run([str(python), "-c", FIRST_DECISION], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "decided True"
    # The test runner ships too.
    (work / "p.rego").write_text("package p\ntest_ok if true\n")
    out = subprocess.run([str(python), "-m", "sark_policy", "test", "p.rego"], cwd=work,
                         env=env, capture_output=True, text=True, timeout=600)
    assert (out.returncode, out.stdout) == (0, "PASS: 1/1\n"), out.stderr
