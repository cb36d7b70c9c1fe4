"""OPA bundles on the Python side: the values `PolicyEngine.activate_bundle`
takes and returns, reading a bundle from bytes, a `.tar.gz` file or a
directory, and the component values of `engine.activate-bundle`.

Reading, verifying and activating happen in the component (the same code
the Rust host and the Envoy filter run); this module only reads files and
refuses, before anything is laid out for the call, a bundle the component
would refuse for its size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

from ._errors import LimitExceededError
from ._json import loads
from ._lower import Lowered, byte_list, list_of, option, record, string, variant

__all__ = [
    "BundleInfo",
    "BundleSource",
    "MAX_BUNDLE_BYTES",
    "MAX_BUNDLE_FILES",
    "Source",
    "Verification",
    "VerificationKey",
    "lower_source",
    "lower_verification",
    "read_source",
]

#: Most bytes of a bundle (the component's limit, uncompressed; here also
#: of a tarball as downloaded or read).
MAX_BUNDLE_BYTES = 64 << 20
#: Most files in a bundle (the component's limit).
MAX_BUNDLE_FILES = 10_000

#: What `activate_bundle` accepts: a gzipped tarball's bytes, or the path
#: of a `.tar.gz` file or of a bundle directory.
BundleSource = Union[bytes, str, os.PathLike[str]]
#: A bundle read: a tarball's bytes, or a directory's files as (path, bytes).
Source = Union[bytes, tuple[tuple[str, bytes], ...]]


@dataclass(frozen=True)
class VerificationKey:
    """A key signed bundles may be verified with (OPA's `keys`): `id` is
    matched against the JWT's `kid`; `algorithm` is `HS256`/`384`/`512`,
    `RS*`, `PS*`, `ES256`/`384`/`512` or `EdDSA`; `key` is the HMAC secret
    for `HS*`, else a PEM public key or certificate, or a JWK; `scope` is
    the scope bundles signed with it must carry."""

    id: str
    algorithm: str
    key: str
    scope: str = ""


@dataclass(frozen=True)
class Verification:
    """How a bundle's `.signatures.json` is checked (OPA's `signing`): with
    one of `keys`, the key `key_id` whatever the JWT says (empty: the JWT's
    `kid`), the scope `scope` (empty: the key's), files matching the glob
    patterns of `exclude_files` left out. With a verification, an unsigned
    bundle is refused."""

    keys: Sequence[VerificationKey]
    key_id: str = ""
    scope: str = ""
    exclude_files: Sequence[str] = ()


@dataclass(frozen=True)
class BundleInfo:
    """A bundle active in an engine: the `name` it was activated under, its
    manifest's `revision` (the last delta's once one applied), the `roots`
    it owns under `data`, the manifest's `metadata`, its `modules` as named
    in the engine (`{name}/{path in the bundle}`), and the delta bundles
    applied since its snapshot (`deltas`)."""

    name: str
    revision: str
    roots: tuple[str, ...]
    metadata: dict[str, Any]
    modules: tuple[str, ...]
    deltas: int

    @classmethod
    def from_raw(cls, raw: tuple[Any, ...]) -> BundleInfo:
        """From the lifted WIT `bundle-info`."""
        name, revision, roots, metadata, modules, deltas = raw
        meta = loads(metadata)
        return cls(name, revision, tuple(roots), meta if isinstance(meta, dict) else {},
                   tuple(modules), deltas)


def _too_big(total: int) -> LimitExceededError:
    return LimitExceededError(f"the bundle is over {MAX_BUNDLE_BYTES} bytes ({total})")


def read_source(source: BundleSource) -> Source:
    """Reads a bundle: bytes are a gzipped tarball; a path is a `.tar.gz`
    file or a directory, whose regular files (also hidden ones such as
    `.manifest`; symbolic links to files are read, to directories not
    followed) become the bundle's files, paths relative and `/`-separated.
    Raises `OSError`, `TypeError` for another type, `LimitExceededError`
    for more than 64 MiB or 10,000 files."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            return _read_dir(path)
        with open(path, "rb") as f:
            data = f.read(MAX_BUNDLE_BYTES + 1)
    else:
        raise TypeError(f"a bundle is bytes or a path, not {type(source).__name__}")
    if len(data) > MAX_BUNDLE_BYTES:
        raise _too_big(len(data))
    return data


def _read_dir(root: str) -> tuple[tuple[str, bytes], ...]:
    files: list[tuple[str, bytes]] = []
    total = 0

    def walk(directory: str, prefix: str) -> None:
        nonlocal total
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            path = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                walk(entry.path, path + "/")
            elif entry.is_file():
                if len(files) >= MAX_BUNDLE_FILES:
                    raise LimitExceededError(
                        f"the bundle holds more than {MAX_BUNDLE_FILES} files")
                with open(entry.path, "rb") as f:
                    data = f.read(MAX_BUNDLE_BYTES - total + 1)
                total += len(data)
                if total > MAX_BUNDLE_BYTES:
                    raise _too_big(total)
                files.append((path, data))

    walk(root, "")
    return tuple(files)


def source_bytes(source: Source) -> int:
    """The bytes a bundle read holds."""
    if isinstance(source, bytes):
        return len(source)
    return sum(len(data) for _, data in source)


def lower_source(source: Source) -> Lowered:
    """The WIT `bundle-source` of a bundle read."""
    if isinstance(source, bytes):
        return variant("tarball", byte_list(source))
    return variant("files", list_of([
        record([("path", string(path)), ("bytes", byte_list(data))]) for path, data in source
    ]))


def _strings(values: Sequence[str], what: str) -> list[str]:
    # A lone string is a Sequence[str] too: refuse it rather than spell it out.
    if isinstance(values, (str, bytes)) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{what} must be a sequence of strings")
    return list(values)


def lower_verification(verification: Verification | None) -> Lowered:
    """The WIT `option<verification>`. Raises `TypeError` for keys that are
    not `VerificationKey`s or fields that are not strings."""
    if verification is None:
        return option(None)
    keys = list(verification.keys)
    if not all(isinstance(k, VerificationKey) for k in keys):
        raise TypeError("Verification.keys must hold VerificationKey values")
    for k in keys:
        _strings([k.id, k.algorithm, k.key, k.scope], "a VerificationKey's fields")
    _strings([verification.key_id, verification.scope], "Verification.key_id and scope")
    excluded = _strings(verification.exclude_files, "Verification.exclude_files")
    return option(record([
        ("keys", list_of([
            record([("id", string(k.id)), ("algorithm", string(k.algorithm)),
                    ("key", string(k.key)), ("scope", string(k.scope))])
            for k in keys
        ])),
        ("key-id", string(verification.key_id)),
        ("scope", string(verification.scope)),
        ("exclude-files", list_of([string(x) for x in excluded])),
    ]))
