"""A place (its standard address, grid, residents, cases) and the places of a grid."""

from __future__ import annotations

from typing import Any

import asyncpg

from projections.graph import canonical_persons
from projections.reads.facts import field_value, merged_facts, provenance, thread_sealed


async def place(conn: asyncpg.Pool | asyncpg.Connection, place_id: str) -> dict[str, Any] | None:
    fields, members = await merged_facts(conn, "place", [place_id])
    if not fields and not members:
        return None
    residents = [
        r[0]
        for r in await conn.fetch(
            "SELECT entity_id FROM entity_field WHERE field = 'current_place'"
            " AND value = to_jsonb($1::text) AND entity_kind = 'record'",
            place_id,
        )
    ]
    persons = sorted(set((await canonical_persons(conn, residents)).values()))
    threads = await conn.fetch(
        "SELECT DISTINCT t.thread_id, "
        + thread_sealed("t.thread_id")
        + " AS sealed FROM case_thread t WHERE t.case_id = ANY($1::text[]) ORDER BY 1",
        [m["member"] for m in members.get("case", [])],
    )
    return {
        "place_id": place_id,
        "address": field_value(fields, "address") or {},
        "grid": field_value(fields, "grid"),
        "building_id": field_value(fields, "building"),
        "spellings": [m["member"] for m in members.get("spelling", [])],
        "residents": persons,
        # each thread once, by its id now; which are sealed is for the policy
        "cases": [r["thread_id"] for r in threads],
        "sealed_cases": [r["thread_id"] for r in threads if r["sealed"]],
        "provenance": provenance(fields),
    }


async def places_in_grid(
    conn: asyncpg.Pool | asyncpg.Connection, grid: str, after: str | None, limit: int
) -> list[str]:
    rows = await conn.fetch(
        "SELECT entity_id FROM entity_field WHERE field = 'grid' AND value = to_jsonb($1::text)"
        " AND entity_kind = 'place' AND ($2::text IS NULL OR entity_id > $2)"
        " ORDER BY entity_id LIMIT $3",
        grid,
        after,
        limit,
    )
    return [r[0] for r in rows]


async def located(conn: asyncpg.Pool | asyncpg.Connection, limit: int) -> list[dict[str, Any]]:
    """Places an agency gave coordinates for: id, ``[lon, lat]`` and grid, in id order."""
    rows = await conn.fetch(
        "SELECT loc.entity_id, loc.value AS location, g.value #>> '{}' AS grid"
        " FROM entity_field loc LEFT JOIN entity_field g ON g.entity_kind = 'place'"
        "  AND g.entity_id = loc.entity_id AND g.field = 'grid'"
        " WHERE loc.entity_kind = 'place' AND loc.field = 'location'"
        " ORDER BY loc.entity_id LIMIT $1",
        limit,
    )
    return [{"place_id": r[0], "location": r[1], "grid": r[2]} for r in rows]
