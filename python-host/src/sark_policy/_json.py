"""JSON across the boundary, and the `UNDEFINED` value.

Every document crosses as JSON text; these helpers turn Python values into
it (raising `InvalidJsonError` for what JSON cannot hold) and back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from ._errors import InvalidJsonError

__all__ = ["UNDEFINED", "Undefined", "dumps", "loads", "context_text", "data_text"]


class Undefined:
    """The type of `UNDEFINED`: what a Rego rule evaluates to when no rule
    body succeeded. Distinct from `None`, which is JSON `null`. Falsy."""

    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


#: The result of an undefined rule (see `Undefined`).
UNDEFINED: Final = Undefined()

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_decode = json.JSONDecoder().decode
# The values almost every allow rule returns, without a parse.
_COMMON: Final[dict[str, Any]] = {"true": True, "false": False, "null": None}


def dumps(value: Any, what: str = "value") -> str:
    """Compact JSON of `value`. Raises `InvalidJsonError` when `value` is
    not JSON-serializable (a set, NaN, an object)."""
    try:
        return _encode(value)
    except (TypeError, ValueError) as e:
        raise InvalidJsonError(f"{what} is not JSON-serializable: {e}") from None


def loads(text: str) -> Any:
    """The Python value of JSON `text` produced by the component."""
    common = _COMMON.get(text, UNDEFINED)
    return _decode(text) if common is UNDEFINED else common


def context_text(context: Mapping[str, Any] | None) -> str:
    """The request context as JSON; empty text (the component reads it as
    `{}`) for None or an empty mapping, as the seed hashed them alike."""
    return dumps(context, "context") if context else ""


def data_text(data: Mapping[str, Any] | str) -> str:
    """A data document as JSON text: a mapping is serialized, a string is
    taken as JSON text already (the component validates it)."""
    return data if isinstance(data, str) else dumps(data, "data")
