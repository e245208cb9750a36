"""The hub's notices on the intake: ``hub.coordination`` takes only the hub's six notice
types in their shapes; no agency topic ever takes a ``hub.*`` type or agency ``hub``."""

from __future__ import annotations

from typing import Any

import orjson

from projections.intake import InboundRecord, RejectedRecord, check
from projections.project import Accepted, project
from schemas.notices import notice_event
from schemas.topics import COORDINATION_TOPIC, DEFAULT_AGENCIES

RULE = {"id": "civic-hub/default", "version": 1}


def _warned(**over: Any) -> dict[str, Any]:
    data = {
        "case_id": "C-1",
        "stage": "register",
        "level": "yellow",
        "due_at": "2026-03-03T10:36:00+08:00",
        "rule": RULE,
    }
    ev = notice_event("N-1", "hub.case.warned", "C-1", "2026-03-03T10:36:00+08:00", data)
    return ev | over


def _rec(topic: str, doc: dict[str, Any]) -> InboundRecord:
    return InboundRecord(topic, 0, 7, b"C-1", orjson.dumps(doc))


def test_the_coordination_topic_takes_the_hubs_notices() -> None:
    out = check(_rec(COORDINATION_TOPIC, _warned()), DEFAULT_AGENCIES)
    assert isinstance(out, Accepted)
    assert (out.env.agency, out.env.source, out.env.subject) == ("hub", "/hub/coordination", "C-1")
    ch = project([out], {})  # in the timeline of the thread it names
    assert ("case", "C-1") in {(k, i) for k, i, *_ in ch.entities}


def test_the_coordination_topic_refuses_anything_else() -> None:
    bad = [
        _warned(agency="city"),
        _warned(source="/agency/city/x"),
        _warned(type="hub.case.closed"),
        _warned(type="city.case.reported"),
        _warned(data={"case_id": "C-1"}),
    ]
    for doc in bad:
        out = check(_rec(COORDINATION_TOPIC, doc), DEFAULT_AGENCIES)
        assert isinstance(out, RejectedRecord), doc


def test_no_agency_can_publish_a_hub_notice() -> None:
    for doc in (
        _warned(),
        _warned(agency="city", source="/agency/city/hub"),
        _warned(agency="city", source="/agency/city/hub", type="city.case.warned"),
    ):
        out = check(_rec("agency.city", doc), DEFAULT_AGENCIES)
        assert isinstance(out, RejectedRecord), doc
