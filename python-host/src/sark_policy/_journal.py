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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._abi import Bindings
from ._json import dumps, loads

__all__ = ["COMPACT_ADDS", "Journal"]

#: Merges (`add_data`) held before the journal is compacted.
COMPACT_ADDS = 16

_REPLACE = "engine.replace-data"
_ADD = "engine.add-data"


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
        fresh one). Raises what the calls raise."""
        if self.strict:
            abi.call("engine.set-strict-builtin-errors", handle, True)
        for name, source in self.policies.items():
            abi.call("engine.add-policy", handle, name, source)
        for op, text in self.data:
            abi.call(op, handle, text)


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
