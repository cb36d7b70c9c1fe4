"""The replay journal of a `PolicyEngine`: the successful changes, enough to
rebuild an instance after a recycle, and kept bounded.

Policies are held by name (a later add replaces an earlier one, a remove
forgets it), so they hold what the engine holds. Data changes are held
since the last replace or clear; a service that merges data in a loop
would make that list grow without end, so once it holds more than
`COMPACT_ADDS` merges, or its merges hold more bytes than the document
they were merged into, it is compacted into one replace of the merged
document as the component prints it (`engine.data`). The second rule
keeps the cost of compacting in proportion to the bytes merged (a
compaction prints at most the old document plus the merges, and happens
only after the merges outweigh the old document); the first bounds the
calls a replay makes.

Bundles are held by name: the snapshot last activated and the deltas
applied since, with their verification, replayed after the data (a
snapshot clears its roots before it loads its own data). The data a
compaction keeps leaves out what lies under the active bundles' roots
(their bundles bring it back), and when a bundle's roots go (it is
removed, or replaced by one with other roots) the engine compacts, so the
data held never resurrects what the bundle cleared or brought.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._abi import Bindings
from ._bundles import Source, lower_source
from ._json import dumps, loads
from ._lower import Lowered

__all__ = ["COMPACT_ADDS", "Journal", "JournalBundle", "strip_roots"]

#: Merges (`add_data`) held before the journal is compacted.
COMPACT_ADDS = 16

_REPLACE = "engine.replace-data"
_ADD = "engine.add-data"


@dataclass
class JournalBundle:
    """An active bundle: its snapshot, the deltas applied since, each with
    its verification (as laid out for the call), and its roots."""

    snapshot: tuple[Source, Lowered]
    roots: tuple[str, ...]
    deltas: list[tuple[Source, Lowered]] = field(default_factory=list)


@dataclass
class Journal:
    """Policies by name, data changes since the last replace, clear or
    compaction, and the strict flag. Policy order does not matter: a module
    set compiles as a whole and regorus resolves references at
    evaluation."""

    policies: dict[str, str] = field(default_factory=dict)
    data: list[tuple[str, str | bytes]] = field(default_factory=list)
    strict: bool = False
    #: Merges in `data` since its head, and their bytes.
    adds: int = 0
    add_bytes: int = 0
    #: Bytes of the document at the head of `data` (0 for none).
    base_bytes: int = 0
    #: Merges held before compacting (raised after a compaction fails).
    limit: int = COMPACT_ADDS
    #: Active bundles by name, in the order they were first activated.
    bundles: dict[str, JournalBundle] = field(default_factory=dict)

    def add_policy(self, name: str, source: str) -> None:
        self.policies.pop(name, None)
        self.policies[name] = source

    def remove_policy(self, name: str) -> None:
        self.policies.pop(name, None)

    def add_data(self, text: str | bytes) -> None:
        self.data.append((_ADD, text))
        self.adds += 1
        self.add_bytes += len(text)

    def replace_data(self, text: str | bytes) -> None:
        self._restart([(_REPLACE, text)], len(text))

    def clear_data(self) -> None:
        self._restart([], 0)

    def _restart(self, data: list[tuple[str, str | bytes]], base_bytes: int) -> None:
        self.data = data
        self.adds = self.add_bytes = 0
        self.base_bytes = base_bytes
        self.limit = COMPACT_ADDS

    def activate_bundle(self, name: str, source: Source, verification: Lowered,
                        roots: tuple[str, ...], delta: bool) -> bool:
        """Records a bundle activated under `name` (a `delta` patches the
        snapshot held). True when roots the bundle of that name owned are
        gone: the data held may then hold what the engine no longer has, and
        wants compacting."""
        held = self.bundles.get(name)
        if delta and held is not None:
            held.deltas.append((source, verification))
            return False
        self.bundles[name] = JournalBundle((source, verification), roots)
        return held is not None and not set(held.roots) <= set(roots)

    def remove_bundle(self, name: str) -> bool:
        """Forgets the bundle `name`; True when one was held (see
        `activate_bundle`)."""
        return self.bundles.pop(name, None) is not None

    def bundle_roots(self) -> list[str]:
        """The roots of the bundles held."""
        return [root for b in self.bundles.values() for root in b.roots]

    def wants_compaction(self) -> bool:
        """Whether the merges held call for `compact`."""
        return self.adds > self.limit or self.add_bytes > self.base_bytes

    def compact(self, document: str, max_bytes: int) -> bool:
        """Replaces the data changes with `document`, the merged data
        document: one replace, or, for a document over the component's
        `max_bytes`, a replace and merges of groups of its top-level keys,
        each within the limit. False (nothing changed) when one top-level
        entry alone is over the limit: the journal then keeps its merges
        (it cannot be replayed otherwise) and tries again only after they
        doubled, in number or bytes, so the cost stays in proportion."""
        pieces = _pieces(document, max_bytes)
        if pieces is None:
            self.limit = 2 * self.adds
            self.base_bytes = max(self.base_bytes, len(document), self.add_bytes)
            return False
        self._restart([(_REPLACE, pieces[0])] + [(_ADD, p) for p in pieces[1:]], len(document))
        return True

    def replay(self, abi: Bindings, handle: int) -> None:
        """Makes the journal's changes in the engine `handle` of `abi` (a
        fresh one, its options and Rego version set): policies, data,
        bundles (each snapshot, then its deltas in order), then the strict
        setting. Raises what the calls raise."""
        for name, source in self.policies.items():
            abi.call("engine.add-policy", handle, name, source)
        for op, text in self.data:
            abi.call(op, handle, text)
        for name, bundle in self.bundles.items():
            for files, verification in [bundle.snapshot, *bundle.deltas]:
                abi.call("engine.activate-bundle", handle, name, lower_source(files),
                         verification)
        if self.strict:
            abi.call("engine.set-strict-builtin-errors", handle, True)


def strip_roots(document: str, roots: list[str]) -> str:
    """`document` (a data document as JSON) without what lies under
    `roots` (`a/b`: the key `b` of the object at `a`; objects on the way
    stay, as when the engine clears a root; an empty root leaves `{}`)."""
    if not roots:
        return document
    data: Any = loads(document)
    for root in roots:
        *parents, last = [s for s in root.split("/") if s] or [""]
        if not last and not parents:
            data = {}
            continue
        node = data
        for seg in parents:
            node = node.get(seg) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return dumps(data).decode()


def _pieces(document: str, max_bytes: int) -> list[str | bytes] | None:
    """`document` as JSON texts of at most `max_bytes` bytes each whose
    merge is `document` (see `Journal.compact`)."""
    if len(document) * 4 <= max_bytes or len(document.encode()) <= max_bytes:
        return [document]
    obj: dict[str, Any] = loads(document)
    pieces: list[str | bytes] = []
    group: dict[str, Any] = {}
    size = 2  # "{}"
    for key, value in obj.items():
        part = len(dumps({key: value}))  # the entry's bytes, plus 2
        if part > max_bytes:
            return None
        if group and size + part - 1 > max_bytes:
            pieces.append(dumps(group))
            group, size = {}, 2
        group[key] = value
        size += part - 1  # entry and a comma
    pieces.append(dumps(group))
    return pieces
