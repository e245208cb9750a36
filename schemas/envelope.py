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


def parse_time(value: str) -> datetime:
    if not _RFC3339.match(value):
        raise ValueError("not RFC 3339 with an offset (e.g. 2026-11-23T08:15:00+08:00)")
    v = value.replace("z", "Z").replace("t", "T")
    # Python < 3.11 could not read nanoseconds; trim to microseconds.
    m = re.match(r"^(.*?\.\d{6})\d+(.*)$", v)
    if m:
        v = m.group(1) + m.group(2)
    t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    if not 1900 <= t.year <= 2200:
        raise ValueError(f"out of the range the hub keeps (years 1900-2200): {value}")
    return t


def _has_nul(node: Any) -> bool:
    if isinstance(node, str):
        return "\x00" in node
    if isinstance(node, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_has_nul(v) for v in node)
    return False


def parse_envelope(raw: bytes, topic_agency: str | None, agencies: tuple[str, ...]) -> Envelope:
    """Parse and check one record value. ``topic_agency`` is the agency of the topic it came on;
    an event whose ``agency`` differs is forged."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected("malformed-json", f"the record is not valid JSON ({exc})") from None
    # PostgreSQL text and jsonb cannot hold U+0000; scan only when the escape is present.
    return check_envelope(doc, topic_agency, agencies, scan_nul=b"\\u0000" in raw)


def check_envelope(
    doc: Any, topic_agency: str | None, agencies: tuple[str, ...], scan_nul: bool = True
) -> Envelope:
    """Check one parsed CloudEvent (the gateway parses a whole batch at once)."""
    if scan_nul and _has_nul(doc):
        raise Rejected("unsupported-character", "strings must not contain U+0000 (NUL)")
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
