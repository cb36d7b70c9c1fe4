"""Loading the component shipped in the package, with an on-disk cache of
the compiled artifact.

Compiling the 6.7 MB component takes seconds; deserializing the compiled
artifact takes milliseconds. The artifact is keyed by the component's
SHA-256, the wasmtime version, the machine and the engine settings, and is
written atomically (temporary file + rename). Deserializing is only safe for
bytes wasmtime itself produced, so each file carries a SHA-256 of its
payload: a truncated or corrupt file is ignored, recompiled and rewritten.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import tempfile
from importlib import resources
from pathlib import Path
from typing import Literal

from wasmtime import Engine, WasmtimeError
from wasmtime.component import Component

from ._abi import WASMTIME_VERSION

__all__ = ["cache_dir", "component_bytes", "load_component", "LoadSource"]

_log = logging.getLogger("sark_policy")

_MAGIC = b"sark-policy-cwasm/1\n"
_DIGEST = 32

#: How `load_component` got its component.
LoadSource = Literal["compiled", "deserialized"]


def cache_dir() -> Path:
    """`$SARK_POLICY_CACHE_DIR`, else `$XDG_CACHE_HOME/sark-policy`, else
    `~/.cache/sark-policy`."""
    explicit = os.environ.get("SARK_POLICY_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "sark-policy"


def component_bytes() -> bytes:
    """The component shipped inside the package. Raises `FileNotFoundError`
    when the package was built without it (run `make component`)."""
    return resources.files("sark_policy").joinpath("sark_policy.wasm").read_bytes()


def _artifact_path(directory: Path, wasm: bytes, engine_tag: str) -> Path:
    digest = hashlib.sha256(wasm).hexdigest()[:32]
    return directory / (
        f"sark_policy-{digest}-wasmtime{WASMTIME_VERSION}-{platform.machine()}-{engine_tag}.cwasm"
    )


def _read_artifact(path: Path) -> bytes | None:
    """The verified payload of `path`, or None when missing or corrupt."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        _log.warning("cannot read compiled component %s: %s", path, e)
        return None
    head = len(_MAGIC) + _DIGEST
    if (
        len(data) < head
        or not data.startswith(_MAGIC)
        or hashlib.sha256(memoryview(data)[head:]).digest() != data[len(_MAGIC) : head]
    ):
        _log.warning("ignoring corrupt compiled component %s", path)
        return None
    return data[head:]


def _write_artifact(path: Path, payload: bytes | bytearray) -> None:
    """Writes `payload` to `path` atomically; logs and carries on when the
    directory is not writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".cwasm")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC)
                f.write(hashlib.sha256(payload).digest())
                f.write(payload)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        _log.warning("cannot cache the compiled component in %s: %s", path.parent, e)


def load_component(
    engine: Engine,
    engine_tag: str,
    directory: Path | None = None,
    wasm: bytes | None = None,
) -> tuple[Component, LoadSource]:
    """The component for `engine`: deserialized from the cache directory
    when a valid artifact is there, else compiled and cached.

    `engine_tag` names the engine settings that change the compiled code
    (e.g. `epoch`). Raises `FileNotFoundError` when the package has no
    component, `WasmtimeError` when it does not compile.
    """
    wasm = component_bytes() if wasm is None else wasm
    path = _artifact_path(directory or cache_dir(), wasm, engine_tag)
    payload = _read_artifact(path)
    if payload is not None:
        try:
            return Component.deserialize(engine, payload), "deserialized"
        except WasmtimeError as e:  # e.g. written by an engine with other settings
            _log.warning("recompiling: cached component %s rejected: %s", path, e)
    component = Component(engine, wasm)
    _write_artifact(path, component.serialize())
    return component, "compiled"
