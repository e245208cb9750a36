"""The clock on case reads (CONTRACT.md section 7): ``sla: {stage, due_at, level}``,
``returns`` and ``rework`` of each case's thread, computed when asked from the thread's
clock marks and the rules in force. One round trip for a page of cases: the threads'
nodes (a walk over ``case_edge``), then their marks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg

from projections.coordination.clock import ThreadClock, marks_of, sla, thread_clock
from projections.coordination.handlers import MARK
from projections.coordination.rules import Rules
from projections.graph import STEP

_MARKS = (
    "WITH RECURSIVE comp(origin, node) AS ("
    " SELECT n, n FROM unnest($1::text[]) AS n"
    " UNION SELECT c.origin, x.dst FROM comp c " + STEP.format(table="case_edge") + ")"
    " SELECT c.origin, m.attrs, m.time, m.event_id FROM comp c JOIN entity_member m"
    " ON m.entity_kind = 'case' AND m.entity_id = c.node AND m.relation = $2"
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


async def add_sla(
    conn: asyncpg.Pool | asyncpg.Connection, items: list[dict[str, Any]], rules: Rules, at: datetime
) -> list[dict[str, Any]]:
    """Each case read with its thread's ``sla``, ``returns`` and ``rework`` added."""
    clocks = await thread_clocks(conn, [i["case_id"] for i in items], rules)
    for item in items:
        item.update(coordination_view(clocks[item["case_id"]], rules, at))
    return items


_OPEN_CITY_CASES = (
    "SELECT g.value #>> '{}' AS grid, g.entity_id AS case_id FROM entity_field g"
    " JOIN record_link l ON l.entity_kind = 'case' AND l.entity_id = g.entity_id"
    "  AND l.agency = 'city'"
    " LEFT JOIN entity_field s ON s.entity_kind = 'case' AND s.entity_id = g.entity_id"
    "  AND s.field = 'status'"
    " WHERE g.entity_kind = 'case' AND g.field = 'grid'"
    " AND ($1::text IS NULL OR g.value = to_jsonb($1::text))"
    " AND coalesce(s.value #>> '{}', 'open') <> 'closed'"
)


async def grid_sla(
    conn: asyncpg.Pool | asyncpg.Connection, rules: Rules, at: datetime, grid: str | None = None
) -> dict[str, dict[str, int]]:
    """Per grid (or the one named), how many open city cases are green, yellow and red now:
    the colours of the grid map."""
    by_grid: dict[str, list[str]] = {}
    for r in await conn.fetch(_OPEN_CITY_CASES, grid):
        by_grid.setdefault(r["grid"], []).append(r["case_id"])
    clocks = await thread_clocks(conn, [c for cs in by_grid.values() for c in cs], rules)
    out: dict[str, dict[str, int]] = {}
    for g, cs in by_grid.items():
        counts = out.setdefault(g, {"green": 0, "yellow": 0, "red": 0})
        for c in cs:
            s = sla(clocks[c], rules, at)
            if s is not None and s["stage"] != "closed":
                counts[s["level"]] += 1
    return out
