"""The CloudEvents 1.0 envelope (../shared/CONTRACT.md section 2), parsed with orjson and checked.

:func:`parse_envelope` turns the bytes of one record into an :class:`Envelope` or raises
:class:`Rejected` with a reason an agency's developer can act on. The ``data`` is checked
separately against the catalog (:mod:`schemas.catalog`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from schemas.strictjson import (
    INT64_MAX,
    INT64_MIN,
    Duplicated,
    NumberOutOfRange,
    exact_loads,
    fast_loads,
    needs_exact,
)

SPECVERSION = "1.0"
REQUIRED = ("specversion", "id", "source", "type", "time", "subject", "data", "agency")
# RFC 3339: date, 'T' (or space), time, optional fraction, and a mandatory offset.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
_TYPE = re.compile(r"^([a-z][a-z0-9_-]*)\.([a-z][a-z0-9_-]*)\.([a-z][a-z0-9_-]*)$")
MAX_ATTRIBUTE_LEN = 512


class Rejected(ValueError):
    """A record the hub cannot accept. ``reason`` is a short code, ``detail`` says why."""

    def __init__(self, reason: str, detail: str, field: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.field = field


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    source: str
    type: str
    time: datetime
    subject: str
    agency: str
    data: dict[str, Any]
    dataschema: str | None
    raw: dict[str, Any]
    # (time, source, id): the total order facts merge by; computed once per event.
    stamp: tuple[datetime, str, str] = field(default=None, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.stamp is None:
            object.__setattr__(self, "stamp", (self.time, self.source, self.id))

    @property
    def key(self) -> tuple[str, str]:
        """``source`` + ``id`` identify an event: the same pair twice is one event."""
        return (self.source, self.id)

    @property
    def schema_version(self) -> int:
        """The version named by ``dataschema`` (``…/v2`` → 2); v1 when absent."""
        if self.dataschema:
            m = re.search(r"/v(\d+)$", self.dataschema)
            if m:
                return int(m.group(1))
        return 1


# The years of the instants the hub keeps (PostgreSQL keeps more; the hub's clocks, indexes
# and reads are sized for these): an event's time and every instant in its data
# (schemas.catalog.check_instants), checked at intake so the worker never meets another.
FIRST_YEAR, LAST_YEAR = 1900, 2200


def parse_time(value: str) -> datetime:
    if not _RFC3339.match(value):
        raise ValueError("not RFC 3339 with an offset (e.g. 2026-11-23T08:15:00+08:00)")
    v = value.replace("z", "Z").replace("t", "T")
    # Python < 3.11 could not read nanoseconds; trim to microseconds.
    m = re.match(r"^(.*?\.\d{6})\d+(.*)$", v)
    if m:
        v = m.group(1) + m.group(2)
    t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    if not FIRST_YEAR <= t.year <= LAST_YEAR:
        raise ValueError(f"out of the range the hub keeps (years {FIRST_YEAR}-{LAST_YEAR})")
    return t


# What one event may hold. Checked without recursion (an explicit stack), so no structure,
# however deep, can make the check itself fail: a CloudEvent nesting a string ~990 levels
# deep once made a recursive check overflow and stop its partition.
MAX_DEPTH = 32
MAX_NODES = 20_000  # values in the whole event
MAX_KEYS = 1_000  # keys of one object
MAX_ITEMS = 5_000  # items of one array
MAX_STRING = 65_536  # characters of one string or key


def check_shape(doc: Any) -> None:
    """Raise :class:`Rejected` when ``doc`` nests too deep, holds too much, has a string
    PostgreSQL cannot store (U+0000), a key its text held twice (:mod:`schemas.strictjson`)
    or an integer beyond int64. Iterative: its own depth is bounded by MAX_DEPTH."""
    stack: list[tuple[Any, int, str]] = [(doc, 0, "")]
    nodes = 0
    while stack:
        node, depth, where = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise Rejected("too-large", f"the event holds more than {MAX_NODES} values")
        if isinstance(node, str):
            if len(node) > MAX_STRING:
                raise Rejected(
                    "too-large", f"a string is longer than {MAX_STRING}", field=where or None
                )
            if "\x00" in node:
                raise Rejected(
                    "unsupported-character",
                    "strings must not contain U+0000 (NUL)",
                    field=where or None,
                )
        elif isinstance(node, dict | list):
            if depth >= MAX_DEPTH:
                raise Rejected(
                    "too-deep",
                    f"the event nests deeper than {MAX_DEPTH} levels",
                    field=where or None,
                )
            if isinstance(node, dict):
                if len(node) > MAX_KEYS:
                    raise Rejected(
                        "too-large", f"an object has more than {MAX_KEYS} keys", field=where or None
                    )
                if isinstance(node, Duplicated):
                    dup = f"{where}.{node.duplicate}" if where else node.duplicate
                    raise Rejected(
                        "duplicate-key",
                        f"key {node.duplicate!r} appears more than once in one object;"
                        " JSON readers disagree on which value counts, so the hub takes neither",
                        field=dup,
                    )
                for k, v in node.items():
                    if len(k) > MAX_STRING or "\x00" in k:
                        raise Rejected(
                            "unsupported-character",
                            "a key is too long or holds NUL",
                            field=where or None,
                        )
                    stack.append((v, depth + 1, f"{where}.{k}" if where else k))
            else:
                if len(node) > MAX_ITEMS:
                    raise Rejected(
                        "too-large",
                        f"an array has more than {MAX_ITEMS} items",
                        field=where or None,
                    )
                stack.extend((v, depth + 1, f"{where}[{i}]") for i, v in enumerate(node))
        elif type(node) is int and not INT64_MIN <= node <= INT64_MAX:
            raise Rejected(
                "number-out-of-range",
                "integers must fit in 64 bits (-2^63 … 2^63-1)",
                field=where or None,
            )


def load_event(raw: bytes) -> Any:
    """One record's JSON, checked for shape, duplicate keys and number range: orjson and a
    census for every event, the exact reading only when the census cannot clear the text."""
    try:
        doc = fast_loads(raw)
    except NumberOutOfRange as exc:
        raise Rejected("number-out-of-range", str(exc)) from None
    except orjson.JSONDecodeError as exc:
        raise Rejected("malformed-json", f"the record is not valid JSON ({exc})") from None
    check_shape(doc)
    if needs_exact(raw, doc):
        try:
            doc = exact_loads(raw)
        except RecursionError:
            raise Rejected("too-deep", "the record nests too deep to read exactly") from None
        except NumberOutOfRange as exc:
            raise Rejected("number-out-of-range", str(exc)) from None
        except ValueError as exc:
            raise Rejected("malformed-json", f"the record is not valid JSON ({exc})") from None
        check_shape(doc)
    return doc


def parse_envelope(raw: bytes, topic_agency: str | None, agencies: tuple[str, ...]) -> Envelope:
    """Parse and check one record value. ``topic_agency`` is the agency of the topic it came on;
    an event whose ``agency`` differs is forged."""
    return _check_attributes(load_event(raw), topic_agency, agencies)


def check_envelope(doc: Any, topic_agency: str | None, agencies: tuple[str, ...]) -> Envelope:
    """Check one parsed CloudEvent (the gateway parses a whole batch at once, with
    :func:`schemas.strictjson.exact_loads` when the census flags it)."""
    check_shape(doc)
    return _check_attributes(doc, topic_agency, agencies)


def _check_attributes(doc: Any, topic_agency: str | None, agencies: tuple[str, ...]) -> Envelope:
    if not isinstance(doc, dict):
        raise Rejected("malformed-envelope", "the record must be one JSON object (a CloudEvent)")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise Rejected(
            "missing-attribute",
            f"required CloudEvents attribute(s) missing: {', '.join(missing)}",
            field=missing[0],
        )
    for k in ("specversion", "id", "source", "type", "time", "subject", "agency"):
        v = doc[k]
        if not isinstance(v, str) or not v:
            raise Rejected("bad-attribute", f"'{k}' must be a non-empty string", field=k)
        if len(v) > MAX_ATTRIBUTE_LEN:
            raise Rejected("bad-attribute", f"'{k}' is longer than {MAX_ATTRIBUTE_LEN}", field=k)
    if doc["specversion"] != SPECVERSION:
        raise Rejected(
            "bad-attribute",
            f'specversion must be "1.0", got {doc["specversion"]!r}',
            field="specversion",
        )
    agency = doc["agency"]
    if agency not in agencies:
        raise Rejected(
            "unknown-agency",
            f"agency {agency!r} is not one of {', '.join(agencies)}",
            field="agency",
        )
    if topic_agency is not None and agency != topic_agency:
        raise Rejected(
            "forged-agency",
            f"event claims agency {agency!r} but arrived on the topic of {topic_agency!r}",
            field="agency",
        )
    if not doc["source"].startswith(f"/agency/{agency}/"):
        # ../shared/CONTRACT.md section 2: an agency's source is its own namespace, so no
        # agency can claim, or squat, another's (source, id).
        raise Rejected(
            "forged-source",
            f"source {doc['source']!r} is not in agency {agency!r}'s namespace"
            f" (/agency/{agency}/…)",
            field="source",
        )
    m = _TYPE.match(doc["type"])
    if not m:
        raise Rejected(
            "bad-attribute",
            f"type {doc['type']!r} must be <agency>.<thing>.<past-tense verb>",
            field="type",
        )
    if m.group(1) != agency:
        raise Rejected(
            "forged-agency",
            f"type {doc['type']!r} belongs to agency {m.group(1)!r}, event says {agency!r}",
            field="type",
        )
    try:
        t = parse_time(doc["time"])
    except ValueError as exc:
        raise Rejected("bad-attribute", f"time {doc['time']!r} is {exc}", field="time") from None
    if not isinstance(doc["data"], dict):
        raise Rejected("bad-attribute", "'data' must be a JSON object", field="data")
    ds = doc.get("dataschema")
    if ds is not None and not isinstance(ds, str):
        raise Rejected("bad-attribute", "'dataschema' must be a string", field="dataschema")
    return Envelope(
        id=doc["id"],
        source=doc["source"],
        type=doc["type"],
        time=t,
        subject=doc["subject"],
        agency=agency,
        data=doc["data"],
        dataschema=ds,
        raw=doc,
    )
