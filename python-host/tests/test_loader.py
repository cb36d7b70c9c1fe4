"""The on-disk compile cache: second load deserializes, corruption is survived."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from wasmtime import Config, Engine, wat2wasm

from sark_policy import _loader, _runtime
from sark_policy._loader import _MAGIC, cache_dir, load_component

# A tiny component with one export: compiles in milliseconds, so the
# corruption cases below do not each pay the real component's seconds.
TINY = wat2wasm('(component (core module (func (export "f"))))')


def _engine() -> Engine:
    config = Config()
    config.epoch_interruption = True
    return Engine(config)


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SARK_POLICY_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("SARK_POLICY_CACHE_DIR")
    assert cache_dir() == tmp_path / "xdg" / "sark-policy"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "sark-policy"


def test_real_component_compiles_once_then_deserializes(tmp_path: Path) -> None:
    assert load_component(_engine(), "epoch", tmp_path)[1] == "compiled"
    (artifact,) = tmp_path.glob("*.cwasm")
    digest = hashlib.sha256(_loader.component_bytes()).hexdigest()[:32]
    assert digest in artifact.name and "wasmtime50.0.1" in artifact.name
    engine = _engine()
    component, source = load_component(engine, "epoch", tmp_path)
    assert source == "deserialized"
    assert "sark:policy/authorizer@0.1.0" in component.type.exports(engine)


def test_corrupt_artifacts_are_ignored_and_rewritten(tmp_path: Path) -> None:
    assert load_component(_engine(), "t", tmp_path, TINY)[1] == "compiled"
    (artifact,) = tmp_path.glob("*.cwasm")
    assert not list(tmp_path.glob(".tmp-*"))  # written by rename, nothing left over
    good = artifact.read_bytes()
    assert load_component(_engine(), "t", tmp_path, TINY)[1] == "deserialized"

    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0xFF  # caught by the checksum, never executed
    payload = b"\0" * 64
    valid_but_not_wasmtimes = _MAGIC + hashlib.sha256(payload).digest() + payload
    for bad in (bytes(flipped), good[:40], b"garbage", b"", valid_but_not_wasmtimes):
        artifact.write_bytes(bad)
        assert load_component(_engine(), "t", tmp_path, TINY)[1] == "compiled"
        assert artifact.read_bytes() == good  # rewritten
        assert load_component(_engine(), "t", tmp_path, TINY)[1] == "deserialized"


def test_artifact_of_other_engine_settings_is_recompiled(tmp_path: Path) -> None:
    # Compiled without epoch interruption but found under the epoch name:
    # wasmtime refuses it and it is replaced.
    load_component(Engine(), "t", tmp_path, TINY)
    assert load_component(_engine(), "t", tmp_path, TINY)[1] == "compiled"
    assert load_component(_engine(), "t", tmp_path, TINY)[1] == "deserialized"


def test_unwritable_cache_dir_still_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="sark_policy"):
        assert load_component(_engine(), "t", blocker / "cache", TINY)[1] == "compiled"
    assert "cannot cache" in caplog.text


def test_process_runtime_is_shared() -> None:
    assert _runtime.runtime() is _runtime.runtime()
    assert _runtime.runtime().source in ("compiled", "deserialized")
