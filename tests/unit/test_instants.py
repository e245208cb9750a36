"""Given an event whose time or a date-time in its data lies outside the years the hub keeps
(or is no real instant), when the gateway or the intake checks it, then it is rejected there
with the field and the reason, before a worker ever tries it (an extension due in 9999 once
got 202 from the gateway and was then dead-lettered by the worker as unprocessable)."""

from __future__ import annotations

import orjson
import pytest

from hub.gateway import check_batch
from hub.sim import story
from projections.intake import InboundRecord, RejectedRecord, check
from schemas.envelope import FIRST_YEAR, LAST_YEAR, parse_time

AGENCIES = ("police", "city", "civil", "court")


def extension(due_at: str) -> dict:
    return story.event(
        "city",
        "city.case.extended",
        "x-1",
        story.EPOCH,
        "C-1",
        {"case_id": "C-1", "due_at": due_at, "reason": "材料待补", "approved_by": "街道主任"},
    )


def mediation(due_at: str) -> dict:
    return story.event(
        "court",
        "court.mediation.assigned",
        "m-1",
        story.EPOCH,
        "K-1",
        {"case_id": "K-1", "mediator": "调解员", "due_at": due_at},
    )


BAD = [
    "9999-12-31T23:59:59+00:00",
    f"{FIRST_YEAR - 1}-12-31T23:59:59+00:00",
    f"{LAST_YEAR + 1}-01-01T00:00:00+08:00",
    "2026-02-30T08:00:00+08:00",  # no such day
]


@pytest.mark.parametrize("due_at", BAD)
@pytest.mark.parametrize("make", [extension, mediation])
def test_an_instant_the_hub_cannot_keep_is_dead_lettered_at_intake(make, due_at: str) -> None:
    e = make(due_at)
    out = check(InboundRecord(f"agency.{e['agency']}", 0, 0, b"k", orjson.dumps(e)), AGENCIES)
    assert isinstance(out, RejectedRecord)
    assert (out.reason, out.field, out.event_id) == ("time-out-of-range", "due_at", e["id"])
    assert f"data.due_at {due_at!r}" in out.detail


@pytest.mark.parametrize("due_at", BAD)
def test_the_gateway_refuses_it_with_the_same_reason(due_at: str) -> None:
    good = extension("2026-12-01T08:00:00+08:00")
    bad = {**extension(due_at), "id": "x-2"}
    _, errors = check_batch([good, bad], "city", AGENCIES)
    assert [(e.index, e.reason, e.field) for e in errors] == [(1, "time-out-of-range", "due_at")]
    assert f"data.due_at {due_at!r}" in errors[0].detail


def test_the_edges_of_the_range_pass() -> None:
    for due_at in (f"{FIRST_YEAR}-01-01T00:00:00+00:00", f"{LAST_YEAR}-12-31T23:59:59+00:00"):
        e = extension(due_at)
        out = check(InboundRecord("agency.city", 0, 0, b"k", orjson.dumps(e)), AGENCIES)
        assert not isinstance(out, RejectedRecord), out
        assert parse_time(due_at).year in (FIRST_YEAR, LAST_YEAR)


def test_the_event_time_has_the_same_bound() -> None:
    e = {**extension("2026-12-01T08:00:00+08:00"), "time": "9999-12-31T23:59:59+00:00"}
    out = check(InboundRecord("agency.city", 0, 0, b"k", orjson.dumps(e)), AGENCIES)
    assert isinstance(out, RejectedRecord) and out.field == "time"
    assert "1900-2200" in out.detail
