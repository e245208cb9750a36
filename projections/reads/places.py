"""A place (its standard address, grid, residents, cases) and the places of a grid."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import asyncpg

from projections.graph import canonical_persons
from projections.reads.facts import field_value, merged_facts, provenance, thread_sealed

# The places of each id's grid with its building, unit and room, and whether each names a
# road (a full address) or leaves something unread (kept apart).
_SAME_ROOM = (
    "WITH me AS (SELECT a.entity_id AS id, a.value AS addr, g.value AS grid"
    " FROM entity_field a JOIN entity_field g ON g.entity_kind = 'place'"
    "  AND g.entity_id = a.entity_id AND g.field = 'grid'"
    " WHERE a.entity_kind = 'place' AND a.field = 'address' AND a.entity_id = ANY($1::text[])"
    "  AND a.value ? 'building' AND a.value ? 'unit' AND a.value ? 'room')"
    " SELECT me.id, o.entity_id AS other, oa.value ? 'road' AS full, oa.value ? 'rest' AS rest"
    " FROM me JOIN entity_field o ON o.field = 'grid' AND o.value = me.grid"
    "  AND o.entity_kind = 'place'"
    " JOIN entity_field oa ON oa.entity_kind = 'place' AND oa.entity_id = o.entity_id"
    "  AND oa.field = 'address' AND oa.value -> 'building' = me.addr -> 'building'"
    "  AND oa.value -> 'unit' = me.addr -> 'unit' AND oa.value -> 'room' = me.addr -> 'room'"
)


async def as_one_place(
    conn: asyncpg.Pool | asyncpg.Connection, ids: list[str]
) -> dict[str, list[str]]:
    """Each of ``ids`` → the place ids read as one place with it, the id it answers as first.

    A building, unit and room written with no road ("2号楼1单元601室", as grid members
    write them) is a place of its grid, apart from any full address. It is the room of the
    grid's full address with that building, unit and room when the grid holds exactly one:
    then the two read as one place, under the full address's id (the other id still
    answers). With none, or with two (two compounds in one grid with the same numbers), each
    stays apart. A function of the read model alone: the same in any order of arrival, in a
    rebuild and as of any instant."""
    rows = await conn.fetch(_SAME_ROOM, sorted(set(ids))) if ids else []
    groups: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        groups[r["id"]].append(r)
    out: dict[str, list[str]] = {}
    for i in ids:
        full = sorted({r["other"] for r in groups[i] if r["full"]})
        rooms = sorted({r["other"] for r in groups[i] if not r["full"] and not r["rest"]})
        out[i] = [full[0], *rooms] if len(full) == 1 and (i in rooms or i == full[0]) else [i]
    return out


async def place_ids_as_read(
    conn: asyncpg.Pool | asyncpg.Connection, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Items with a ``place_id`` (a person's addresses, a case's places) under the id each
    place is read as (:func:`as_one_place`)."""
    one = await as_one_place(conn, [i["place_id"] for i in items])
    return [{**i, "place_id": one[i["place_id"]][0]} for i in items]


async def place(conn: asyncpg.Pool | asyncpg.Connection, place_id: str) -> dict[str, Any] | None:
    ids = (await as_one_place(conn, [place_id]))[place_id]
    fields, members = await merged_facts(conn, "place", ids)
    if len(ids) > 1:  # the address, grid and location are the full address's
        fields, _ = await merged_facts(conn, "place", ids[:1])
    if not fields and not members:
        return None
    residents = [
        r[0]
        for r in await conn.fetch(
            "SELECT entity_id FROM entity_field WHERE field = 'current_place'"
            " AND value = ANY(SELECT to_jsonb(unnest($1::text[]))) AND entity_kind = 'record'",
            ids,
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
        "place_id": ids[0],
        "also_known_as": ids[1:],
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
    """The places of a grid in id order after ``after``, each once: a place read as
    another (:func:`as_one_place`) is listed under that one's id only."""
    out: list[str] = []
    while len(out) < limit:
        rows = await conn.fetch(
            "SELECT entity_id FROM entity_field WHERE field = 'grid'"
            " AND value = to_jsonb($1::text) AND entity_kind = 'place'"
            " AND ($2::text IS NULL OR entity_id > $2) ORDER BY entity_id LIMIT $3",
            grid,
            after,
            limit,
        )
        ids = [r[0] for r in rows]
        one = await as_one_place(conn, ids)
        out += [i for i in ids if one[i][0] == i]
        if len(ids) < limit:
            break
        after = ids[-1]
    return out[:limit]


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
