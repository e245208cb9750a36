"""JSON as the hub accepts it: no duplicate keys, no integer beyond int64, no number beyond
float range, without a slow path for normal events.

orjson takes the last of duplicate keys silently, reads an integer beyond 64 bits as a
float (its value changed) and refuses a number beyond float range with a parser message.
So an event is parsed with orjson, and a cheap check decides whether its text could hold
what orjson hides:

- **Duplicates.** Outside strings, every object member has exactly one ``:``, and orjson
  writes a parsed document back with one ``:`` per member plus the colons inside its keys
  and strings. A dropped duplicate takes its own colon (and those of its value) with it, so
  the text holds more colons than the document written back; when the counts are equal, no
  member was dropped. A colon written as ``\\u003a`` in the text would hide one from the
  text's count: such text takes the exact path.
- **Big integers.** An integer beyond int64 has at least 19 digits: text without a run of
  19 digits has none (orjson's own ints are range-checked by the shape check).

Only text the check cannot clear is parsed again by :func:`exact_loads` (the standard
library with a hook that marks objects holding a duplicate key); the shape check then names
the key. A normal event pays one orjson write (~1 µs for 500 bytes), two byte counts and a
byte translation.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Digits → "0", anything else → ".": a run of 19 digits is then a plain substring search.
_DIGITS = bytes(ord("0") if chr(b).isdigit() and b < 128 else ord(".") for b in range(256))
_DIGIT_RUN = b"0" * 19
_ESCAPE_003 = b"\\u003"  # the escapes of "0"…"?", ":" among them (\u003a, \u003A)


class NumberOutOfRange(ValueError):
    pass


class Duplicated(dict[str, Any]):
    """An object whose text held a key more than once (the last value kept, as orjson)."""

    duplicate: str = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dup = None
    for k, v in pairs:
        if k in out and dup is None:
            dup = k
        out[k] = v
    if dup is None:
        return out
    marked = Duplicated(out)
    marked.duplicate = dup
    return marked


def _no_constant(name: str) -> Any:
    raise NumberOutOfRange(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise NumberOutOfRange(f"the number {text[:40]} is beyond float range")
    return value


def fast_loads(raw: bytes | str) -> Any:
    """orjson; raises :class:`NumberOutOfRange` for a number beyond float range and
    ``orjson.JSONDecodeError`` for anything else it refuses."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "infinity" in str(exc):
            raise NumberOutOfRange(f"a number is beyond float range ({exc})") from None
        raise


def exact_loads(raw: bytes | str) -> Any:
    """The slow, exact reading: objects with a duplicate key come back as
    :class:`Duplicated`, integers keep every digit. Only for text :func:`needs_exact`
    flags (orjson already accepted it). Raises ``RecursionError`` when nested too deep
    for the standard library, ``ValueError`` when not JSON."""
    return json.loads(
        raw, object_pairs_hook=_pairs, parse_constant=_no_constant, parse_float=_float
    )


def needs_exact(raw: bytes, doc: Any) -> bool:
    """Whether the text ``raw``, which orjson read as ``doc``, may hold a duplicate key or
    an integer beyond what orjson keeps exactly."""
    if _ESCAPE_003 in raw:
        return True
    try:
        again = orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):
        return True
    return raw.count(b":") != again.count(b":") or _DIGIT_RUN in raw.translate(_DIGITS)
