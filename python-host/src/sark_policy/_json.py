"""JSON across the boundary, and the `UNDEFINED` value.

Every document crosses as JSON text; these helpers turn Python values into
UTF-8 JSON (raising `InvalidJsonError` for what JSON cannot hold) and back.

orjson does the work (a tenth of the time of the standard library's `json`
on a typical input), and `json` takes over wherever orjson would answer
differently, so the values that cross are exactly those `json` gives:

- encoding: orjson refuses integers outside 64 bits, non-string keys and
  the types passed through to `json` here (dataclasses, datetimes): `json`
  writes those, behind a leading space (JSON whitespace) that marks text
  orjson cannot read back exactly. orjson also writes NaN and infinities as
  `null`, which `json` refuses: when the output holds a `null`, the value
  is searched for them. One difference remains, in what is accepted:
  orjson writes an `enum.Enum` member as its value and a `uuid.UUID` as its
  string, where `json` raises.
- decoding: orjson reads an integer outside 64 bits as a float. The engine
  writes integers of any size exactly (as OPA does), so `loads` hands text
  holding a run of 19 or more digits to `json`; text a caller stored (a
  cached value) is read by `loads_exact`, which hands marked text to `json`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from ._errors import InvalidJsonError, LimitExceededError

__all__ = [
    "UNDEFINED",
    "Undefined",
    "dumps",
    "loads",
    "loads_exact",
    "context_text",
    "data_text",
]


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

_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_fast_dumps = orjson.dumps
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_decode = json.JSONDecoder().decode


def _slow_dumps(value: Any, what: str) -> bytes:
    try:
        return _encode(value).encode()
    except (TypeError, ValueError) as e:  # UnicodeEncodeError is a ValueError
        raise InvalidJsonError(f"{what} is not JSON-serializable: {e}") from None
    except RecursionError:
        # orjson stops at 255 levels; json at Python's recursion limit.
        raise LimitExceededError(f"{what} nests too deeply to serialize") from None


def dumps(value: Any, what: str = "value") -> bytes:
    """Compact UTF-8 JSON of `value`, as `json` writes it up to number
    formatting (`1e16` for `1e+16`) and, where orjson cannot write it
    (an integer beyond 64 bits), a leading space. Raises `InvalidJsonError`
    when `value` is not JSON-serializable (a set, NaN, an object, a lone
    surrogate)."""
    try:
        out = _fast_dumps(value, None, _OPTIONS)
    except TypeError:
        return b" " + _slow_dumps(value, what)
    # (`find`, not `in`: `bytes.__contains__` first tries its argument as an
    # int and pays for the TypeError, doubling the cost.)
    if out.find(b"null") >= 0 and not _finite(value):
        return _slow_dumps(value, what)  # raises, as json refuses NaN
    return out


def _finite(value: Any) -> bool:
    """False when `value` holds a NaN or an infinity (orjson wrote `null`
    for it). Recursion is bounded: orjson refuses nesting past 255."""
    if isinstance(value, float):
        return value - value == 0.0  # NaN and infinities give NaN
    if isinstance(value, dict):
        return all(map(_finite, value.values()))
    if isinstance(value, (list, tuple)):
        return all(map(_finite, value))
    return True


_fast_loads = orjson.loads
#: A digit run that may be an integer beyond 64 bits (19 digits reach past
#: 2**63; a float or a string with such a run also matches and decodes the
#: same either way).
_long_digits = re.compile("[0-9]{19}").search
_long_digits_b = re.compile(b"[0-9]{19}").search


def loads(text: str | bytes) -> Any:
    """The Python value of JSON text written by the engine (or by `dumps`),
    integers of any size exact: orjson, or `json` where a number may exceed
    64 bits."""
    if len(text) > 18:
        if isinstance(text, str):
            if _long_digits(text) is not None:
                return _decode(text)
        elif _long_digits_b(text) is not None:
            return _decode(text.decode())
    return _fast_loads(text)


def loads_exact(text: str) -> Any:
    """The Python value of JSON `text` written by `dumps`, integers of any
    size exact."""
    return _decode(text) if text[:1] == " " else _fast_loads(text)


def context_text(context: Mapping[str, Any] | None) -> bytes:
    """The request context as JSON (see `dumps`); empty (the component
    reads it as `{}`) for None or an empty mapping, as the seed hashed them
    alike. Also the memo of a request's key: serializing is faster than any
    hashable stand-in built in Python. Raises `InvalidJsonError`."""
    if not context:
        return b""
    try:  # `dumps`, inlined: this runs on every request
        out = _fast_dumps(context, None, _OPTIONS)
    except TypeError:
        return b" " + _slow_dumps(context, "context")
    if out.find(b"null") >= 0 and not _finite(context):
        return _slow_dumps(context, "context")
    return out


def data_text(data: Mapping[str, Any] | str) -> str | bytes:
    """A data document as JSON text: a mapping is serialized, a string is
    taken as JSON text already (the component validates it)."""
    return data if isinstance(data, str) else dumps(data, "data")
