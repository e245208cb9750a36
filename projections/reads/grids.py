"""Grids: the board of one grid and the list of all, counting case threads (not agency
records): open, overdue and closed threads, incidents, residents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from projections.coordination.handlers import MARK
from projections.coordination.rules import Rules
from projections.reads import sla as sla_reads

# Each thread with a record in the grid (or in any grid), read as GET /v1/cases/{id} reads
# it: each field its latest statement across the thread's records; and whether the thread
# is nothing but police incidents (counted apart, as incidents).
# Two statements, one for a grid and one for all: one statement with "$1 IS NULL OR …",
# once PostgreSQL plans it generically (after five runs on one connection of the API's
# statement cache), read every grid as if it were one (0.2 s became 3.2 s).
_ONE_GRID = " AND g.value = to_jsonb($3::text)"
_THREADS = (
    "WITH th AS (SELECT DISTINCT t.thread_id FROM entity_field g JOIN case_thread t"
    " ON t.case_id = g.entity_id WHERE g.entity_kind = 'case' AND g.field = 'grid'"
    "{grid}),"
    " nodes AS (SELECT t.thread_id, t.case_id FROM case_thread t JOIN th USING (thread_id)),"
    " latest AS (SELECT DISTINCT ON (n.thread_id, f.field) n.thread_id, f.field,"
    " f.value #>> '{}' AS v FROM nodes n JOIN entity_field f ON f.entity_kind = 'case'"
    " AND f.entity_id = n.case_id AND f.field IN ('grid', 'status', 'due_at', 'sealed')"
    " ORDER BY n.thread_id, f.field, f.time DESC, f.source DESC, f.event_id DESC),"
    " kinds AS (SELECT n.thread_id, bool_and(l.agency = 'police' AND l.kind = 'incident')"
    " AS incident FROM nodes n JOIN record_link l ON l.entity_kind = 'case'"
    " AND l.entity_id = n.case_id GROUP BY 1),"
    " marks AS (SELECT n.thread_id, m.attrs->>'kind' AS k, m.attrs->>'stage' AS st,"
    " m.attrs->>'agency' AS ag, m.time FROM nodes n JOIN entity_member m"
    " ON m.entity_kind = 'case' AND m.entity_id = n.case_id AND m.relation = '" + MARK + "'),"
    # surely closed on the clock (CONTRACT.md section 7, projections.coordination.clock): a
    # city case reported, its last stage and its verification done after any reopening, no
    # mediation open; the clock of any other closed thread is read, to be sure
    " settled AS (SELECT thread_id FROM marks GROUP BY thread_id HAVING"
    " bool_or(k = 'report' AND ag = 'city')"
    " AND max(time) FILTER (WHERE k = 'done' AND st = $1)"
    " > coalesce(max(time) FILTER (WHERE k = 'reopen'), '-infinity')"
    " AND ($2::text IS NULL OR max(time) FILTER (WHERE k = 'done' AND st = $2)"
    " > coalesce(max(time) FILTER (WHERE k = 'reopen'), '-infinity'))"
    " AND (max(time) FILTER (WHERE k = 'mediate') IS NULL"
    " OR max(time) FILTER (WHERE k = 'mediated') > max(time) FILTER (WHERE k = 'mediate')))"
    " SELECT k.thread_id, k.incident, k.thread_id IN (SELECT thread_id FROM settled) AS settled,"
    " max(l.v) FILTER (WHERE l.field = 'grid') AS grid,"
    " max(l.v) FILTER (WHERE l.field = 'status') AS status,"
    " max(l.v) FILTER (WHERE l.field = 'due_at') AS due_at,"
    " max(l.v) FILTER (WHERE l.field = 'sealed') AS sealed"
    " FROM kinds k LEFT JOIN latest l USING (thread_id) GROUP BY k.thread_id, k.incident"
    " ORDER BY k.thread_id"
)


async def _threads(
    conn: asyncpg.Pool | asyncpg.Connection, grid: str | None, rules: Rules
) -> list[asyncpg.Record]:
    # a thread belongs to the grid its latest statement names
    last, verify = rules.stages[-1], "verify" if "verify" in rules.stages else None
    if grid is None:
        rows = await conn.fetch(_THREADS.replace("{grid}", ""), last, verify)
    else:
        rows = await conn.fetch(_THREADS.replace("{grid}", _ONE_GRID), last, verify, grid)
    return [r for r in rows if grid is None or r["grid"] == grid]


async def _judged(
    conn: asyncpg.Pool | asyncpg.Connection, rows: list[asyncpg.Record], rules: Rules, at: datetime
) -> dict[str, tuple[sla_reads.Verdict, str | None]]:
    """Each case thread (not an incident) of ``rows`` that is open, or closed by its records
    but not surely on the clock: as a case read answers it (:func:`sla_reads.judge`), and
    its clock's level while a stage is in force (None: no clock, or closed)."""
    ids = [
        r["thread_id"]
        for r in rows
        if not r["incident"] and (r["status"] != "closed" or not r["settled"])
    ]
    clocks = await sla_reads.thread_clocks(conn, ids, rules)
    out: dict[str, tuple[sla_reads.Verdict, str | None]] = {}
    for r in rows:
        tc = clocks.get(r["thread_id"])
        if tc is None:
            continue
        v = sla_reads.judge(r["status"], r["due_at"], tc, rules, at)
        level = v.sla
        shown = level["level"] if level is not None and level["stage"] != "closed" else None
        out[r["thread_id"]] = (v, shown)
    return out


def _count(
    r: asyncpg.Record, judged: dict[str, tuple[sla_reads.Verdict, str | None]]
) -> tuple[str, bool, str | None] | None:
    """How a case thread counts: open or closed, overdue, its clock's level; None: not a
    matter yet (a return, extension or follow-up of a case never reported)."""
    got = judged.get(r["thread_id"])
    if got is None:  # closed, surely (on the clock too)
        return ("closed" if r["status"] == "closed" else "open"), False, None
    v, level = got
    if not v.matter:
        return None
    return v.status, v.overdue, level


def _levels() -> dict[str, int]:
    return {"green": 0, "yellow": 0, "red": 0}


async def grid_board(
    conn: asyncpg.Pool | asyncpg.Connection,
    grid: str,
    rules: Rules,
    at: datetime,
    sealed_ids: bool = False,
) -> dict[str, Any] | None:
    """Open, overdue and closed threads, incidents and current residents of one grid, and
    the clock levels of its open threads (``sla``: green, yellow, red). Overdue is asked at
    ``at``, never stored, and is the case read's (red on the hub's clock; the agency's due
    time for a thread without one). Ids of sealed threads are listed only when
    ``sealed_ids`` (the reader may see them); they are counted either way."""
    rows = await _threads(conn, grid, rules)
    residents = await conn.fetchval(
        "SELECT count(DISTINCT cp.entity_id) FROM entity_field pg JOIN entity_field cp"
        " ON cp.field = 'current_place' AND cp.value = to_jsonb(pg.entity_id)"
        " AND cp.entity_kind = 'record'"
        " WHERE pg.field = 'grid' AND pg.entity_kind = 'place' AND pg.value = to_jsonb($1::text)",
        grid,
    )
    if not rows and not residents:
        return None
    board: dict[str, Any] = {
        "grid": grid,
        "cases": {"open": 0, "overdue": 0, "closed": 0},
        "incidents": {"open": 0, "closed": 0},
        "residents": residents,
        "overdue_case_ids": [],
        "sla": _levels(),
    }
    judged = await _judged(conn, rows, rules, at)
    for r in rows:
        if r["incident"]:
            board["incidents"]["closed" if r["status"] == "closed" else "open"] += 1
            continue
        counted = _count(r, judged)
        if counted is None:
            continue
        status, late, level = counted
        board["cases"][status] += 1
        if level is not None:
            board["sla"][level] += 1
        if late:
            board["cases"]["overdue"] += 1
            if sealed_ids or r["sealed"] != "true":
                board["overdue_case_ids"].append(r["thread_id"])
    return board


async def grids(
    conn: asyncpg.Pool | asyncpg.Connection, rules: Rules, at: datetime
) -> list[dict[str, Any]]:
    """Every grid with case threads: open, overdue (asked at ``at``, as a case read answers
    it) and closed counts, and the clock levels of the open threads (``sla``)."""
    out: dict[str, dict[str, Any]] = {}
    rows = [
        r for r in await _threads(conn, None, rules) if not r["incident"] and r["grid"] is not None
    ]
    judged = await _judged(conn, rows, rules, at)
    for r in rows:
        counted = _count(r, judged)
        if counted is None:
            continue
        status, late, level = counted
        b = out.setdefault(
            r["grid"], {"grid": r["grid"], "open": 0, "overdue": 0, "closed": 0, "sla": _levels()}
        )
        b[status] += 1
        if level is not None:
            b["sla"][level] += 1
        if late:
            b["overdue"] += 1
    return [out[k] for k in sorted(out)]
