"""A case thread (its refs, stage, persons, places, timeline) and finding cases by grid,
status, stage, category, agency and overdue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from projections.coordination.handlers import MARK
from projections.graph import STEP, canonical_node, components, person_id_of
from projections.reads.facts import FACT_ROWS, field_value, fold_facts, provenance
from projections.reads.places import place_ids_as_read


def is_overdue(due_at: str | None, status: str | None, at: datetime) -> bool:
    """Overdue is asked at a time: an open case whose due time has passed."""
    if not due_at or status == "closed":
        return False
    from schemas.envelope import parse_time

    try:
        return parse_time(due_at) < at
    except ValueError:
        return False


async def thread_nodes(
    conn: asyncpg.Pool | asyncpg.Connection, case_id: str
) -> list[asyncpg.Record]:
    """The case nodes of the thread ``case_id`` belongs to, oldest first."""
    nodes = (await components(conn, [case_id], "case_edge"))[case_id]
    return await conn.fetch(
        "SELECT case_id, opened_at FROM case_thread WHERE"
        " case_id = ANY($1::text[]) ORDER BY opened_at, case_id",
        nodes,
    )


# A case thread in one round trip: the thread's case nodes (walk over case_edge), their
# facts, and the person component of every party record (walk over person_edge).
# A case read's facts, without the clock's marks (one per event of the thread; the clock
# reads them itself: projections/reads/sla.py).
_CASE_FACT_ROWS = FACT_ROWS.replace(
    "FROM entity_member WHERE", "FROM entity_member WHERE relation <> '" + MARK + "' AND"
)
assert _CASE_FACT_ROWS != FACT_ROWS
_CASE = (
    "WITH RECURSIVE comp(node) AS (SELECT $1::text"
    " UNION SELECT x.dst FROM comp c " + STEP.format(table="case_edge") + "),"
    " ids AS MATERIALIZED (SELECT array_agg(node) AS a FROM comp),"
    " facts AS MATERIALIZED ("
    + _CASE_FACT_ROWS.format(kind="'case'", ids="SELECT unnest((SELECT a FROM ids))")
    + "),"
    " pcomp(origin, node) AS (SELECT DISTINCT attrs->>'record', attrs->>'record' FROM facts"
    "  WHERE k = 'm' AND name LIKE 'person' || chr(31) || '%' AND attrs->>'record' IS NOT NULL"
    "  UNION SELECT c.origin, x.dst FROM pcomp c " + STEP.format(table="person_edge") + ")"
    " SELECT 'n' AS k, case_id AS name, NULL::jsonb AS value, NULL::jsonb AS attrs,"
    " opened_at AS time, NULL AS source, NULL AS event_id, NULL AS agency FROM case_thread"
    " WHERE case_id = ANY((SELECT a FROM ids)::text[])"
    " UNION ALL SELECT * FROM facts"
    " UNION ALL SELECT 'p', origin, to_jsonb(array_agg(node)), NULL, NULL, NULL, NULL, NULL"
    " FROM pcomp GROUP BY origin"
)


async def case(
    conn: asyncpg.Pool | asyncpg.Connection, case_id: str, at: datetime
) -> dict[str, Any] | None:
    """One thread per matter: every agency record joined by refs, read as one case."""
    rows = await conn.fetch(_CASE, case_id)
    nodes = sorted((r["time"], r["name"]) for r in rows if r["k"] == "n")
    if not nodes:
        return None
    ids = [n for _, n in nodes]
    fields, members = fold_facts([r for r in rows if r["k"] != "p"])
    persons_of = {
        r["name"]: person_id_of(canonical_node(r["value"])) for r in rows if r["k"] == "p"
    }
    status = field_value(fields, "status") or "open"
    due_at = field_value(fields, "due_at")
    return {
        "case_id": ids[0],
        "also_known_as": ids[1:],
        "refs": [m["attrs"] for m in members.get("ref", [])],
        "category": field_value(fields, "category"),
        "status": status,
        "stage": field_value(fields, "stage"),
        "due_at": due_at,
        "overdue": is_overdue(due_at, status, at),
        "grid": field_value(fields, "grid"),
        "sealed": bool(field_value(fields, "sealed")),
        "opened_at": nodes[0][0],
        "persons": [
            {
                "person_id": persons_of.get(m["attrs"]["record"]),
                "role": m["attrs"]["role"],
                "agency": m["attrs"]["agency"],
            }
            for m in members.get("person", [])
        ],
        "places": await place_ids_as_read(
            conn,
            [
                {"place_id": m["member"], "text": (m["attrs"] or {}).get("text")}
                for m in members.get("place", [])
            ],
        ),
        "cites": [m["attrs"] for m in members.get("cites", [])],
        "escalations": [m["attrs"] for m in members.get("escalation", [])],
        "provenance": provenance(fields),
    }


async def case_timeline(
    conn: asyncpg.Pool | asyncpg.Connection, case_id: str
) -> list[dict[str, Any]]:
    """Every event of every agency record in the thread, in event time."""
    ids = [r["case_id"] for r in await thread_nodes(conn, case_id)]
    rows = await conn.fetch(
        "SELECT DISTINCT a.time, a.agency, a.type, a.event_id, a.summary, a.source"
        " FROM event_entity e JOIN event_archive a ON a.source = e.source"
        " AND a.event_id = e.event_id WHERE e.entity_kind = 'case'"
        " AND e.entity_id = ANY($1::text[]) ORDER BY a.time, a.source, a.event_id",
        ids,
    )
    return [{k: r[k] for k in ("time", "agency", "type", "event_id", "summary")} for r in rows]


CASE_FILTERS = ("grid", "status", "stage", "category")
# Stages a case read may show in place of the one its records state (``closed`` without a
# passed verification, ``reopened`` by a follow-up before any close): the last stage done.
SHOWN_BEFORE = {
    s: ["closed", "reopened"]
    for s in ("reported", "registered", "dispatched", "handled", "verified", "court-mediation")
}


async def candidate_threads(
    conn: asyncpg.Pool | asyncpg.Connection,
    filters: dict[str, str],
    agency: str | None,
    after: str | None,
    limit: int,
) -> list[str]:
    """Thread ids after ``after``, in id order, that may match: some record of the thread
    states the most selective filter (grid, then category, stage, status, agency). A
    thread's own values are its latest statements across its records, and what a reader
    may see of them is for the policy: read each with :func:`case`, mask, and check every
    filter on what is shown."""
    assert set(filters) <= set(CASE_FILTERS), filters  # names go into SQL: only known ones
    for name in ("grid", "category", "stage", "status"):
        if name in filters:
            values = [filters[name]]
            if name == "stage" and filters[name] in SHOWN_BEFORE:
                # a stage a read may show for a record that states another: the last stage
                # done, where the case was closed without a passed verification, or a
                # follow-up came before its close (projections.reads.sla.add_sla)
                values += SHOWN_BEFORE[filters[name]]
            rows = await conn.fetch(
                "SELECT DISTINCT t.thread_id FROM entity_field f JOIN case_thread t"
                " ON t.case_id = f.entity_id WHERE f.entity_kind = 'case' AND f.field = $1"
                " AND f.value = ANY(ARRAY(SELECT to_jsonb(v) FROM unnest($2::text[]) AS v))"
                " AND ($3::text IS NULL OR t.thread_id > $3)"
                " ORDER BY 1 LIMIT $4",
                name,
                values,
                after,
                limit,
            )
            return [r[0] for r in rows]
    if agency:
        rows = await conn.fetch(
            "SELECT DISTINCT t.thread_id FROM record_link l JOIN case_thread t"
            " ON t.case_id = l.entity_id WHERE l.entity_kind = 'case' AND l.agency = $1"
            " AND ($2::text IS NULL OR t.thread_id > $2) ORDER BY 1 LIMIT $3",
            agency,
            after,
            limit,
        )
        return [r[0] for r in rows]
    rows = await conn.fetch(
        "SELECT DISTINCT thread_id FROM case_thread WHERE ($1::text IS NULL OR thread_id > $1)"
        " ORDER BY 1 LIMIT $2",
        after,
        limit,
    )
    return [r[0] for r in rows]


def matches(
    case: dict[str, Any], filters: dict[str, str], agency: str | None, overdue: bool | None
) -> bool:
    """Whether a thread, as shown, answers every filter (its own latest values)."""
    if any(case.get(k) != v for k, v in filters.items()):
        return False
    if agency and not any(r.get("agency") == agency for r in case.get("refs") or []):
        return False
    return overdue is None or bool(case.get("overdue")) == overdue


async def case_facts(
    conn: asyncpg.Pool | asyncpg.Connection, case_ids: list[str], fields: list[str]
) -> dict[str, dict[str, Any]]:
    """The named fields of each case record (its own, not its thread's): id → field → value."""
    out: dict[str, dict[str, Any]] = {}
    if case_ids:
        for r in await conn.fetch(
            "SELECT entity_id, field, value FROM entity_field WHERE entity_kind = 'case'"
            " AND entity_id = ANY($1::text[]) AND field = ANY($2::text[])",
            case_ids,
            fields,
        ):
            out.setdefault(r[0], {})[r[1]] = r[2]
    return out
