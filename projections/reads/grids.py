"""Grids: the board of one grid and the list of all, counting open, overdue and closed
cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from projections.reads.cases import is_overdue


async def grid_board(
    conn: asyncpg.Pool | asyncpg.Connection, grid: str, at: datetime
) -> dict[str, Any] | None:
    """Open, overdue and closed city cases, incidents and current residents of one grid.
    Overdue is asked at ``at``, never stored."""
    rows = await conn.fetch(
        "SELECT g.entity_id AS case_id, l.agency, l.kind, s.value #>> '{}' AS status,"
        " d.value #>> '{}' AS due_at FROM entity_field g"
        " JOIN record_link l ON l.entity_kind = 'case' AND l.entity_id = g.entity_id"
        " LEFT JOIN entity_field s ON s.entity_kind = 'case' AND s.entity_id = g.entity_id"
        "  AND s.field = 'status'"
        " LEFT JOIN entity_field d ON d.entity_kind = 'case' AND d.entity_id = g.entity_id"
        "  AND d.field = 'due_at'"
        " WHERE g.field = 'grid' AND g.value = to_jsonb($1::text) AND g.entity_kind = 'case'",
        grid,
    )
    residents = await conn.fetchval(
        "SELECT count(DISTINCT cp.entity_id) FROM entity_field pg JOIN entity_field cp"
        " ON cp.field = 'current_place' AND cp.value = to_jsonb(pg.entity_id)"
        " AND cp.entity_kind = 'record'"
        " WHERE pg.field = 'grid' AND pg.entity_kind = 'place' AND pg.value = to_jsonb($1::text)",
        grid,
    )
    if not rows and not residents:
        return None
    board = {
        "grid": grid,
        "cases": {"open": 0, "overdue": 0, "closed": 0},
        "incidents": {"open": 0, "closed": 0},
        "residents": residents,
        "overdue_case_ids": [],
    }
    for r in rows:
        status = r["status"] or "open"
        if (r["agency"], r["kind"]) == ("police", "incident"):
            board["incidents"]["closed" if status == "closed" else "open"] += 1
        elif r["agency"] == "city":
            board["cases"][status if status in ("open", "closed") else "open"] += 1
            if is_overdue(r["due_at"], status, at):
                board["cases"]["overdue"] += 1
                board["overdue_case_ids"].append(r["case_id"])
    board["overdue_case_ids"].sort()
    return board


async def grids(conn: asyncpg.Pool | asyncpg.Connection, at: datetime) -> list[dict[str, Any]]:
    """Every grid with city cases: open, overdue (asked at ``at``) and closed counts."""
    rows = await conn.fetch(
        "SELECT g.value #>> '{}' AS grid, s.value #>> '{}' AS status,"
        " d.value #>> '{}' AS due_at FROM entity_field g"
        " JOIN record_link l ON l.entity_kind = 'case' AND l.entity_id = g.entity_id"
        "  AND l.agency = 'city'"
        " LEFT JOIN entity_field s ON s.entity_kind = 'case' AND s.entity_id = g.entity_id"
        "  AND s.field = 'status'"
        " LEFT JOIN entity_field d ON d.entity_kind = 'case' AND d.entity_id = g.entity_id"
        "  AND d.field = 'due_at'"
        " WHERE g.field = 'grid' AND g.entity_kind = 'case'"
    )
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        b = out.setdefault(r["grid"], {"grid": r["grid"], "open": 0, "overdue": 0, "closed": 0})
        status = r["status"] or "open"
        b["closed" if status == "closed" else "open"] += 1
        if is_overdue(r["due_at"], status, at):
            b["overdue"] += 1
    return [out[k] for k in sorted(out)]
