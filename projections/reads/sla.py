"""The clock on case reads (CONTRACT.md section 7): ``sla: {stage, due_at, level}``,
``returns`` and ``rework`` of each case's thread, computed when asked from the thread's
clock marks and the rules in force. One round trip for a page of cases: the threads'
nodes (a walk over ``case_edge``), then their marks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from projections.coordination.clock import ThreadClock, marks_of, sla, thread_clock
from projections.coordination.handlers import MARK
from projections.coordination.rules import Rules
from projections.graph import STEP
from projections.reads.cases import is_overdue

# The marks of each thread, and an ``opened`` mark for each police case opened or court case
# filed in it (those records carry no clock mark; their facts say they were opened).
_MARKS = (
    "WITH RECURSIVE comp(origin, node) AS ("
    " SELECT n, n FROM unnest($1::text[]) AS n"
    " UNION SELECT c.origin, x.dst FROM comp c " + STEP.format(table="case_edge") + ")"
    " SELECT c.origin, m.attrs, m.time, m.event_id FROM comp c JOIN entity_member m"
    " ON m.entity_kind = 'case' AND m.entity_id = c.node AND m.relation = $2"
    " UNION ALL SELECT c.origin, jsonb_build_object('kind', 'opened'), f.time, f.event_id"
    " FROM comp c JOIN entity_field f ON f.entity_kind = 'case' AND f.entity_id = c.node"
    " AND f.field IN ('offence', 'case_type')"
)


async def thread_clocks(
    conn: asyncpg.Pool | asyncpg.Connection, case_ids: Iterable[str], rules: Rules
) -> dict[str, ThreadClock]:
    """Each case's thread clock (a case with no marks gets an empty clock)."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    members: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for r in await conn.fetch(_MARKS, ids, MARK):
        members[r["origin"]].append(
            {"attrs": r["attrs"], "time": r["time"], "event_id": r["event_id"]}
        )
    return {i: thread_clock(marks_of(ms), rules) for i, ms in members.items()}


def coordination_view(tc: ThreadClock, rules: Rules, at: datetime) -> dict[str, Any]:
    return {"sla": sla(tc, rules, at), "returns": tc.returns, "rework": tc.rework}


def overdue(
    status: str | None, due_at: str | None, level: dict[str, Any] | None, at: datetime
) -> bool:
    """Whether a thread is overdue at ``at``, the one rule every read applies (the case, the
    case lists and their ``overdue`` filter, the grid board and map, a person's cases): an
    open thread whose clock (``level``: its ``sla``, CONTRACT.md section 7) is red; for a
    thread the hub keeps no clock for (a police matter), an open thread whose agency's
    ``due_at`` has passed. ``status`` is the thread's as :func:`judge` reads it."""
    if status == "closed":
        return False
    if level is not None:
        return level["stage"] != "closed" and level["level"] == "red"
    return is_overdue(due_at, status, at)


class Verdict(NamedTuple):
    """A thread as every read states it at an instant."""

    overdue: bool
    due_at: Any  # the due instant it is judged by: its clock's, else the agency's
    status: str  # open | closed, as the hub's rules read it
    matter: bool  # opened (reported, registered, ...): counted and listed; else waiting
    sla: dict[str, Any] | None
    rework: int

    def stage(self, stage: str | None, status: str | None) -> str | None:
        """The stage a read shows for the ``stage`` and ``status`` the thread's records
        state: where the clock disagrees (a close without a passed verification; a
        dissatisfied follow-up before any close, or of a case never reported, which reopens
        nothing), the last stage done, as the clock says."""
        s = self.sla
        if stage == "closed" and status == "closed" and self.status == "open":
            return _DONE_BEFORE.get(s["stage"], stage) if s else stage
        if stage == "reopened" and not self.rework:
            return _DONE_BEFORE.get(s["stage"]) if s else None
        return stage


def judge(
    status: str | None, due_at: str | None, tc: ThreadClock, rules: Rules, at: datetime
) -> Verdict:
    """The one reading of a thread's status, ``overdue`` and ``sla`` at ``at``, whatever the
    read (the case, the lists and their filters, the grid board and map, a person's cases,
    the live feed), from its records' latest ``status`` and ``due_at`` and its clock:

    - a thread with a stage in force on the hub's clock is open, whatever an agency's record
      says: a city case closed without a passed verification (verification before closing)
      still has its verify stage due; a mediation's settlement leaves the city's case to be
      closed by the city;
    - a thread no report, registration, 110 call, police case, court filing or mediation was
      seen for (only a return, an extension or a follow-up of an unknown case: it exists so
      that a late report joins it) is no matter yet: no clock, never overdue, not counted
      on boards and maps nor listed."""
    level = sla(tc, rules, at)
    shown = "open" if tc.window is not None else (status or "open")
    due = level.get("due_at") if level is not None else due_at
    if isinstance(due, datetime):
        due = due.isoformat()
    late = tc.opened and overdue(shown, due_at, level, at)
    return Verdict(late, due, shown, tc.opened, level, tc.rework)


async def add_sla(
    conn: asyncpg.Pool | asyncpg.Connection, items: list[dict[str, Any]], rules: Rules, at: datetime
) -> list[dict[str, Any]]:
    """Each case read with its thread's ``sla``, ``returns`` and ``rework`` added, and its
    ``overdue`` as :func:`overdue` decides it."""
    clocks = await thread_clocks(conn, [i["case_id"] for i in items], rules)
    for item in items:
        tc = clocks[item["case_id"]]
        v = judge(item.get("status"), item.get("due_at"), tc, rules, at)
        item.update(coordination_view(tc, rules, at))
        item.update(
            stage=v.stage(item.get("stage"), item.get("status")),
            status=v.status,
            overdue=v.overdue,
            awaiting_report=not v.matter,
        )
    return items


# The clock's stage in force → the case's last stage done.
_DONE_BEFORE = {
    "register": "reported",
    "dispatch": "registered",
    "handle": "dispatched",
    "verify": "handled",
    "close": "verified",
    "mediate": "court-mediation",
}


async def threads_overdue(
    conn: asyncpg.Pool | asyncpg.Connection, thread_ids: Iterable[str], rules: Rules, at: datetime
) -> dict[str, bool]:
    """Each thread's ``overdue`` (:func:`overdue`), by its id: its own latest status and due
    time across its records, and its clock."""
    ids = sorted(set(thread_ids))
    if not ids:
        return {}
    return {i: v.overdue for i, v in (await threads_late(conn, ids, rules, at)).items()}


async def threads_late(
    conn: asyncpg.Pool | asyncpg.Connection, thread_ids: Iterable[str], rules: Rules, at: datetime
) -> dict[str, Verdict]:
    """Each thread as :func:`judge` reads it: its ``overdue`` and the due instant it is
    judged by (its clock's, or the agency's ``due_at`` where the hub keeps no clock), its
    status, whether it is a matter yet."""
    ids = sorted(set(thread_ids))
    if not ids:
        return {}
    state = {r["thread_id"]: r for r in await conn.fetch(_THREAD_STATE, ids)}
    clocks = await thread_clocks(conn, ids, rules)
    out = {}
    for i in ids:
        r = state.get(i)
        status, due_at = (r["status"], r["due_at"]) if r else (None, None)
        out[i] = judge(status, due_at, clocks[i], rules, at)
    return out


# Each thread's latest status and due time across its records, read as GET /v1/cases/{id}
# reads them.
_THREAD_STATE = (
    "WITH nodes AS (SELECT thread_id, case_id FROM case_thread"
    " WHERE thread_id = ANY($1::text[])),"
    " latest AS (SELECT DISTINCT ON (n.thread_id, f.field) n.thread_id, f.field,"
    " f.value #>> '{}' AS v FROM nodes n JOIN entity_field f ON f.entity_kind = 'case'"
    " AND f.entity_id = n.case_id AND f.field IN ('status', 'due_at')"
    " ORDER BY n.thread_id, f.field, f.time DESC, f.source DESC, f.event_id DESC)"
    " SELECT thread_id, max(v) FILTER (WHERE field = 'status') AS status,"
    " max(v) FILTER (WHERE field = 'due_at') AS due_at FROM latest GROUP BY thread_id"
)
