"""The hub's own notices on ``hub.coordination`` (CONTRACT.md section 7): CloudEvents with
``agency: "hub"`` and ``source: "/hub/coordination"``, ``subject`` the thread's case id.
Their ``data`` schemas live here, not under ``schemas/<agency>/``: agencies never send them,
so the intake must never accept them. The AsyncAPI document lists them on the channel."""

from __future__ import annotations

from functools import cache
from typing import Any

import fastjsonschema
import orjson

from schemas.envelope import (
    MAX_ATTRIBUTE_LEN,
    REQUIRED,
    SPECVERSION,
    Envelope,
    Rejected,
    check_shape,
    parse_time,
)

NOTICE_SOURCE = "/hub/coordination"
NOTICE_AGENCY = "hub"

_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_TIME = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$",
}
_NAME = {"type": "string", "minLength": 1, "maxLength": 64}
_RULE = {
    "type": "object",
    "required": ["id", "version"],
    "additionalProperties": False,
    "properties": {"id": _NAME, "version": {"type": "integer", "minimum": 1}},
    "description": "the rules (HUB_RULES) that raised the notice",
}


def _shape(description: str, props: dict[str, Any], optional: tuple[str, ...] = ()) -> Any:
    return {
        "type": "object",
        "description": description,
        "required": [k for k in props if k not in optional],
        "additionalProperties": False,
        "properties": props,
    }


NOTICES: dict[str, dict[str, Any]] = {
    "hub.case.warned": _shape(
        "A stage is at 80 % of its limit (yellow) or past it (red).",
        {
            "case_id": _ID,
            "stage": _NAME,
            "level": {"enum": ["yellow", "red"]},
            "due_at": _TIME,
            "rule": _RULE,
        },
    ),
    "hub.case.urged": _shape(
        "A reminder to the agency holding a case past its limit.",
        {"case_id": _ID, "to_agency": _NAME, "stage": _NAME, "due_at": _TIME, "rule": _RULE},
    ),
    "hub.case.supervised": _shape(
        "Supervision by the command center (督办): red for five working days.",
        {"case_id": _ID, "to_agency": _NAME, "stage": _NAME, "due_at": _TIME, "rule": _RULE},
    ),
    "hub.case.raised": _shape(
        "The case moved up a level (red for ten working days, or returned three times).",
        {"case_id": _ID, "from_level": _NAME, "to_level": _NAME, "rule": _RULE},
    ),
    "hub.case.bounced": _shape(
        "The case was sent back and forth between departments.",
        {"case_id": _ID, "returns": {"type": "integer", "minimum": 1}, "rule": _RULE},
    ),
    "hub.referral.routed": _shape(
        "A matter diverted to the agency that owns it (分流).",
        {"case_id": _ID, "to_agency": _NAME, "rule": _RULE, "incident_id": _ID},
        optional=("incident_id",),
    ),
}


@cache
def validator(etype: str) -> Any:
    return fastjsonschema.compile(NOTICES[etype])


def check_notice(etype: str, data: dict[str, Any]) -> None:
    """Raise ``fastjsonschema.JsonSchemaValueException`` when a notice breaks its shape."""
    validator(etype)(data)


def notice_event(
    notice_id: str, etype: str, subject: str, time: str, data: dict[str, Any]
) -> dict[str, Any]:
    """One notice as the CloudEvent the hub writes to ``hub.coordination``. ``time`` is the
    instant the notice fell due, so every copy of a notice is the same event."""
    return {
        "specversion": SPECVERSION,
        "id": notice_id,
        "source": NOTICE_SOURCE,
        "type": etype,
        "time": time,
        "subject": subject,
        "agency": NOTICE_AGENCY,
        "datacontenttype": "application/json",
        "data": data,
    }


def parse_notice(raw: bytes) -> Envelope:
    """A record of ``hub.coordination`` → its envelope, or :class:`Rejected`. Only the hub's
    own notices pass: agency ``hub``, source ``/hub/coordination``, one of the six types,
    ``data`` in its shape. (An agency topic never takes a ``hub.*`` type: the catalog has
    none, and ``hub`` is no agency.)"""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected("malformed-json", f"the record is not valid JSON ({exc})") from None
    check_shape(doc)
    if not isinstance(doc, dict):
        raise Rejected("malformed-envelope", "the record must be one JSON object (a CloudEvent)")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise Rejected("missing-attribute", f"missing: {', '.join(missing)}", field=missing[0])
    for k in ("specversion", "id", "source", "type", "time", "subject", "agency"):
        if not isinstance(doc[k], str) or not doc[k] or len(doc[k]) > MAX_ATTRIBUTE_LEN:
            raise Rejected("bad-attribute", f"'{k}' must be a non-empty short string", field=k)
    if doc["specversion"] != SPECVERSION:
        raise Rejected("bad-attribute", 'specversion must be "1.0"', field="specversion")
    if doc["agency"] != NOTICE_AGENCY or doc["source"] != NOTICE_SOURCE:
        raise Rejected(
            "forged-agency",
            f"hub.coordination takes only the hub's notices (agency {NOTICE_AGENCY!r},"
            f" source {NOTICE_SOURCE!r})",
            field="agency" if doc["agency"] != NOTICE_AGENCY else "source",
        )
    if doc["type"] not in NOTICES:
        raise Rejected("unknown-type", f"type {doc['type']!r} is not a hub notice", field="type")
    try:
        t = parse_time(doc["time"])
    except ValueError as exc:
        raise Rejected("bad-attribute", f"time {doc['time']!r} is {exc}", field="time") from None
    data = doc["data"]
    if not isinstance(data, dict):
        raise Rejected("bad-attribute", "'data' must be a JSON object", field="data")
    try:
        check_notice(doc["type"], data)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise Rejected("invalid-data", str(exc.message), field="data") from None
    return Envelope(
        id=doc["id"],
        source=doc["source"],
        type=doc["type"],
        time=t,
        subject=doc["subject"],
        agency=NOTICE_AGENCY,
        data=data,
        dataschema=None,
        raw=doc,
    )
