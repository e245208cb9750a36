"""The KPI report (CONTRACT.md section 7; ``GET /v1/reports/kpi``, ``civic-hub report kpi``):
per grid, owning agency or street, over a window, how the city's cases were handled.

Computed from the event archive alone, never from the read model's current state: the
cases are the city cases first reported in ``[from, to)``, and each is judged on its own
events with times before ``to`` (as known at the end of the window), its clock replayed
under the rules (:mod:`projections.coordination.clock`). So any past window can be
recomputed, and gives the same answer however often it is asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import asyncpg

from projections.coordination.clock import Mark, notices, thread_clock
from projections.coordination.rules import Rules

KEYS = ("grid", "agency", "street")
STREET_DIGITS = 9  # district (6) + street (3) of a grid code
UNKNOWN = "unknown"

# What each count and rate means: the OpenAPI description is made from this.
FORMULAS: dict[str, str] = {
    "received": "city cases whose first city.case.reported falls in [from, to)",
    "responded_on_time": "received cases registered (city.case.registered) by the register"
    " limit, in working time from the report",
    "solved": "received cases with a passed verification (city.case.verified, passed)",
    "closed": "received cases closed (city.case.closed) before `to`",
    "closed_on_time": "closed cases closed by their clock's due instant (limits from the"
    " report, moved by approved extensions and reopenings)",
    "followed_up": "received cases with a follow-up (city.feedback.recorded)",
    "satisfied": "followed-up cases whose latest follow-up says satisfied",
    "rework": "received cases reopened at least once (a failed verification or a"
    " dissatisfied follow-up)",
    "extended": "received cases with at least one approved extension (city.case.extended)",
    "bounced": "received cases returned (city.case.returned) at least as often as the"
    " rules' bounce threshold",
    "solved_lowest_level": "solved cases whose category belongs to the lowest level of the"
    " ladder and that no rule raised a level before they were solved",
    "response_rate": "responded_on_time ÷ received",
    "solve_rate": "solved ÷ received",
    "on_time_close_rate": "closed_on_time ÷ closed",
    "satisfaction_rate": "satisfied ÷ followed_up",
    "rework_rate": "rework ÷ received",
    "lowest_level_share": "solved_lowest_level ÷ solved",
}
_RATES = {
    "response_rate": ("responded_on_time", "received"),
    "solve_rate": ("solved", "received"),
    "on_time_close_rate": ("closed_on_time", "closed"),
    "satisfaction_rate": ("satisfied", "followed_up"),
    "rework_rate": ("rework", "received"),
    "lowest_level_share": ("solved_lowest_level", "solved"),
}

_CASES = (
    "WITH r AS MATERIALIZED (SELECT data->>'case_id' AS cid, min(time) AS at"
    " FROM event_archive WHERE type = 'city.case.reported' AND agency = 'city'"
    " AND time >= $1 AND time < $2 GROUP BY 1)"
    " SELECT r.cid, a.type, a.time, a.event_id, a.data FROM r JOIN event_archive a"
    " ON a.agency = 'city' AND a.data->>'case_id' = r.cid AND a.time < $2"
    " AND a.type = ANY($3::text[]) ORDER BY r.cid, a.time, a.source, a.event_id"
)
_DONE = {
    "city.case.registered": "register",
    "city.case.dispatched": "dispatch",
    "city.case.handled": "handle",
    "city.case.closed": "close",
}
TYPES = [
    "city.case.reported",
    *_DONE,
    "city.case.verified",
    "city.case.returned",
    "city.case.extended",
    "city.feedback.recorded",
]


@dataclass
class Counts:
    received: int = 0
    responded_on_time: int = 0
    solved: int = 0
    closed: int = 0
    closed_on_time: int = 0
    followed_up: int = 0
    satisfied: int = 0
    rework: int = 0
    extended: int = 0
    bounced: int = 0
    solved_lowest_level: int = 0

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def report(self, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {"key": key, **{f.name: getattr(self, f.name) for f in fields(self)}}
        for rate, (num, den) in _RATES.items():
            out[rate] = round(out[num] / out[den], 4) if out[den] else None
        return out


def _marks(events: Iterable[asyncpg.Record | dict[str, Any]]) -> tuple[list[Mark], dict[str, Any]]:
    """The clock marks of one city case's events (as the projector's handlers make them),
    and what the report needs besides: its grid and category, its follow-ups."""
    marks: list[Mark] = []
    info: dict[str, Any] = {"feedback": [], "solved_at": None, "registered_at": None}
    for e in events:
        t, d, eid, at = e["type"], e["data"], e["event_id"], e["time"]
        if t == "city.case.reported":
            info.setdefault("grid", (d.get("address") or {}).get("grid"))
            info.setdefault("category", d.get("category"))
            marks.append(Mark(at, eid, "report", {"agency": "city", "category": d["category"]}))
        elif t in _DONE:
            marks.append(Mark(at, eid, "done", {"stage": _DONE[t]}))
            if t == "city.case.registered" and info["registered_at"] is None:
                info["registered_at"] = at
        elif t == "city.case.verified":
            if d.get("passed"):
                marks.append(Mark(at, eid, "done", {"stage": "verify"}))
                info["solved_at"] = info["solved_at"] or at
            else:
                marks.append(Mark(at, eid, "reopen", {}))
        elif t == "city.case.returned":
            marks.append(Mark(at, eid, "return", {}))
        elif t == "city.case.extended":
            marks.append(Mark(at, eid, "extend", {"due_at": d["due_at"]}))
        elif t == "city.feedback.recorded":
            info["feedback"].append(bool(d.get("satisfied")))
            if not d.get("satisfied"):
                marks.append(Mark(at, eid, "reopen", {}))
    return sorted(marks), info


def judge(case_id: str, events: list[Any], rules: Rules) -> tuple[Counts, dict[str, Any]]:
    """One received case's counts (each 0 or 1) and its grid and category."""
    marks, info = _marks(events)
    tc = thread_clock(marks, rules)
    c = Counts(received=1)
    cal = rules.calendar
    if tc.started_at is not None and info["registered_at"] is not None:
        limit = rules.limits(tc.category)[rules.stages[0]].span(cal)
        c.responded_on_time = int(info["registered_at"] <= cal.add(tc.started_at, limit))
    c.solved = int(info["solved_at"] is not None)
    c.closed = int(tc.closed_at is not None)
    c.closed_on_time = int(
        c.closed == 1 and tc.close_due is not None and tc.closed_at <= tc.close_due
    )
    c.followed_up = int(bool(info["feedback"]))
    c.satisfied = int(bool(info["feedback"]) and info["feedback"][-1])
    c.rework = int(tc.rework > 0)
    c.extended = int(tc.extensions > 0)
    c.bounced = int(tc.returns >= rules.bounced_at)
    if c.solved:
        cat = rules.category(tc.category)
        lowest = (cat.level if cat else rules.levels[0]) == rules.levels[0]
        raised = any(
            n.type == "hub.case.raised" and n.due <= info["solved_at"]
            for n in notices(case_id, tc, rules)
        )
        c.solved_lowest_level = int(lowest and not raised)
    return c, info


def key_of(by: str, info: dict[str, Any], rules: Rules) -> str:
    grid = info.get("grid")
    if by == "grid":
        return grid or UNKNOWN
    if by == "street":
        return grid[:STREET_DIGITS] if grid and len(grid) >= STREET_DIGITS else UNKNOWN
    cat = rules.category(info.get("category"))
    return cat.agency if cat else "city"


async def kpi(
    conn: asyncpg.Pool | asyncpg.Connection, rules: Rules, start: datetime, end: datetime, by: str
) -> dict[str, Any]:
    """``{items: [{key, counts…, rates…}], total: {…}}`` for cases received in [start, end)."""
    if by not in KEYS:
        raise ValueError(f"by must be one of {', '.join(KEYS)}, got {by!r}")
    per: dict[str, Counts] = {}
    total = Counts()
    case: str | None = None
    events: list[Any] = []

    def flush() -> None:
        if case is None or not events:
            return
        c, info = judge(case, events, rules)
        per.setdefault(key_of(by, info, rules), Counts()).add(c)
        total.add(c)

    for r in await conn.fetch(_CASES, start, end, TYPES):
        if r["cid"] != case:
            flush()
            case, events = r["cid"], []
        events.append(r)
    flush()
    return {
        "by": by,
        "from": start,
        "to": end,
        "rule": rules.cite,
        "items": [per[k].report(k) for k in sorted(per)],
        "total": total.report("*"),
    }
