"""The hub's own notices on ``hub.coordination`` (CONTRACT.md section 7): CloudEvents with
``agency: "hub"`` and ``source: "/hub/coordination"``, ``subject`` the thread's case id.
Their ``data`` schemas live here, not under ``schemas/<agency>/``: agencies never send them,
so the intake must never accept them. The AsyncAPI document lists them on the channel."""

from __future__ import annotations

from functools import cache
from typing import Any

import fastjsonschema

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
