"""The simulator's ground truth of coordination notices: for each matter (the simulator knows
which events are one matter, the hub has to find out), every notice its clock raises and
the instant it falls due, under the rules.

A notice is due when it falls due while the matter's clock, as known then, still says so: the
clock is replayed over the matter's events in time order, and a notice of the clock after
event k counts if it falls due before event k+1 (or by the end of the simulated time). So a
yellow warning whose stage was done before 80 % of its limit is no notice, and one that fell
due first is, even if the stage was done later.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from hub.sim.city import Emitted
from hub.sim.story import event
from projections.coordination.clock import Mark, thread_clock
from projections.coordination.notices import notices
from projections.coordination.rules import Rules
from schemas.envelope import parse_time

_DONE = {
    "city.case.registered": "register",
    "city.case.dispatched": "dispatch",
    "city.case.handled": "handle",
    "city.case.closed": "close",
}


def mark_of(event: dict[str, Any]) -> Mark | None:
    """What an event means for its matter's clock (``None``: nothing)."""
    t, d, at, eid = event["type"], event["data"], parse_time(event["time"]), event["id"]
    if t == "city.case.reported":
        return Mark(at, eid, "report", {"agency": "city", "category": d["category"]})
    if t == "police.incident.reported":
        attrs = {"agency": "police", "category": d["category"], "incident_id": d["incident_id"]}
        return Mark(at, eid, "report", attrs)
    if t == "police.incident.referred":
        return Mark(at, eid, "referred", {"to_agency": d["to_agency"]})
    if t in _DONE:
        return Mark(at, eid, "done", {"stage": _DONE[t]})
    if t == "city.case.verified":
        if d["passed"]:
            return Mark(at, eid, "done", {"stage": "verify"})
        return Mark(at, eid, "reopen", {"why": "verification"})
    if t == "city.case.returned":
        return Mark(at, eid, "return", {"by_department": d["by_department"]})
    if t == "city.case.extended":
        return Mark(at, eid, "extend", {"due_at": d["due_at"]})
    if t == "city.feedback.recorded":
        return None if d["satisfied"] else Mark(at, eid, "reopen", {"why": "feedback"})
    if t == "court.mediation.assigned":
        return Mark(at, eid, "mediate", {"due_at": d["due_at"], "mediator": d["mediator"]})
    if t == "court.mediation.concluded":
        return Mark(at, eid, "mediated")
    return None


def notice_truth(emitted: Iterable[Emitted], rules: Rules, end: datetime) -> list[dict[str, Any]]:
    """``{matter, type, due, data}`` of every notice due by ``end``, in order of due instant."""
    by_matter: dict[str, list[Mark]] = {}
    for e in emitted:
        matter = e.truth.get("matter")
        m = mark_of(e.event) if matter else None
        if m is not None:
            by_matter.setdefault(matter, []).append(m)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for matter, marks in by_matter.items():
        marks.sort()
        for k in range(len(marks)):
            until = marks[k + 1].at if k + 1 < len(marks) else end
            for n in notices(matter, thread_clock(marks[: k + 1], rules), rules):
                if n.due < until or (k + 1 == len(marks) and n.due <= end):
                    key = (matter, n.id)  # raised once, when it first falls due
                    out.setdefault(
                        key, {"matter": matter, "type": n.type, "due": n.due, "data": n.data}
                    )
    return sorted(out.values(), key=lambda x: (x["due"], x["matter"], x["type"]))


_MARKER_TYPES = {
    "city": ("city.case.closed", "outcome"),
    "police": ("police.case.closed", "disposition"),
    "court": ("court.hearing.scheduled", "at"),
}


def watermark_marker(agency: str, partition: int, at: datetime) -> dict[str, Any]:
    """An event of ``agency`` at ``at`` that moves no clock (a record of its own, never
    reported): sent to each inbound partition, it carries the partition's time to ``at``
    for a run under the watermark clock (``HUB_SWEEP_CLOCK=watermark``)."""
    sid = f"WM-{agency}-{partition}-{at:%Y%m%d%H%M%S%f}"
    if agency == "civil":
        return event(
            agency,
            "civil.resident.deceased",
            sid,
            at,
            sid,
            {"resident_id": sid, "died_on": at.date().isoformat()},
        )
    etype, field = _MARKER_TYPES[agency]
    value = at.isoformat() if field == "at" else "watermark"
    return event(agency, etype, sid, at, sid, {"case_id": sid, field: value})
