"""Reads of the read model, shaped as ../shared/CONTRACT.md sections 4 and 5 name them. No
policy here: the API passes every answer through :mod:`hub.policy` before it leaves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from projections.graph import (
    STEP,
    canonical_node,
    canonical_persons,
    components,
    person_id_of,
)
from projections.names import normalize_name, sound_key

_FACT_ROWS = (
    "SELECT 'f' AS k, field AS name, value, NULL::jsonb AS attrs, time, source, event_id,"
    " agency FROM entity_field WHERE entity_kind = {kind} AND entity_id IN ({ids})"
    " UNION ALL SELECT 'm', relation || chr(31) || member, NULL, attrs, time, source,"
    " event_id, agency FROM entity_member WHERE entity_kind = {kind} AND entity_id IN ({ids})"
)

# A person in one round trip: its node, the component (identity numbers and decisions), and
# the facts of every record in it.
_PERSON = (
    "WITH RECURSIVE comp(node) AS (SELECT node FROM person_node WHERE person_id = $1"
    " UNION SELECT x.dst FROM comp c " + STEP.format(table="person_edge") + ")"
    " SELECT 'n' AS k, node AS name, NULL::jsonb AS value, NULL::jsonb AS attrs,"
    " NULL::timestamptz AS time, NULL AS source, NULL AS event_id, NULL AS agency FROM comp"
    " UNION ALL " + _FACT_ROWS.format(kind="'record'",
                                      ids="SELECT unnest((SELECT array_agg(node) FROM comp))")
)


def _fold_facts(rows: list[asyncpg.Record]
                ) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The facts of several nodes read as one entity: each field's latest statement across
    them, each set member's earliest, all with provenance."""
    fields: dict[str, dict[str, Any]] = {}
    members: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        k = r["k"]
        if k not in ("f", "m"):
            continue
        stamp = (r["time"], r["source"], r["event_id"])
        fact = {"value": r["value"], "attrs": r["attrs"], "event_id": r["event_id"],
                "agency": r["agency"], "time": r["time"], "stamp": stamp}
        if k == "f":
            cur = fields.get(r["name"])
            if cur is None or stamp > cur["stamp"]:
                fields[r["name"]] = fact
        else:
            relation, member = r["name"].split(chr(31), 1)
            rel = members.setdefault(relation, {})
            if member not in rel or stamp < rel[member]["stamp"]:
                rel[member] = {**fact, "member": member}
    listed = {rel: sorted(ms.values(), key=lambda m: (m["stamp"], m["member"]))
              for rel, ms in members.items()}
    return fields, listed


async def _merged_facts(conn: asyncpg.Pool | asyncpg.Connection, kind: str, ids: list[str]
                        ) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    rows = await conn.fetch(_FACT_ROWS.format(kind="$1", ids="SELECT unnest($2::text[])"),
                            kind, ids)
    return _fold_facts(rows)


def _value(fields: dict[str, dict[str, Any]], name: str) -> Any:
    f = fields.get(name)
    return f["value"] if f else None


def _provenance(fields: dict[str, dict[str, Any]], hide: tuple[str, ...] = ()
                ) -> dict[str, dict[str, Any]]:
    return {name: {"event_id": f["event_id"], "agency": f["agency"], "time": f["time"]}
            for name, f in sorted(fields.items()) if name not in hide}


def _split_record(rec: str) -> dict[str, str]:
    agency, kind, rid = rec.split(":", 2)
    return {"agency": agency, "kind": kind, "id": rid}


async def person(conn: asyncpg.Pool | asyncpg.Connection, person_id: str) -> dict[str, Any] | None:
    rows = await conn.fetch(_PERSON, person_id)
    if not rows:
        return None
    nodes = sorted(r["name"] for r in rows if r["k"] == "n")
    records = [n for n in nodes if not n.startswith("nid:")]
    nids = sorted(n[4:] for n in nodes if n.startswith("nid:"))
    fields, members = _fold_facts(rows)

    def listed(relation: str) -> list[dict[str, Any]]:
        return members.get(relation, [])

    current = _value(fields, "current_place")
    canonical = person_id_of(canonical_node(nodes))
    # A number that fails its checksum is kept and shown, never used as a key.
    invalid = [fields["national_id"]["value"]] if not nids and "national_id" in fields else []
    return {
        "person_id": canonical,
        "also_known_as": sorted({person_id_of(n) for n in nodes} - {canonical}),
        "national_id": nids[0] if nids else None,
        "national_ids": nids,
        "unverified_national_ids": invalid,
        "names": [m["member"] for m in listed("name")],
        "gender": _value(fields, "gender"),
        "birth_date": _value(fields, "birth_date"),
        "phones": [m["member"] for m in listed("phone")],
        "status": _value(fields, "status") or "known",
        "records": [_split_record(r) for r in sorted(records)],
        "addresses": [{"place_id": m["member"], "text": (m["attrs"] or {}).get("text"),
                       "current": m["member"] == current} for m in listed("address")],
        "cases": [m["attrs"] for m in listed("case")],
        "assistance": [m["attrs"] for m in listed("assistance")],
        "provenance": _provenance(fields, hide=("national_id_valid",)),
    }


async def persons_by_national_id(conn: asyncpg.Pool | asyncpg.Connection, nid: str) -> list[str]:
    node = await conn.fetchval("SELECT node FROM person_node WHERE node = $1", f"nid:{nid}")
    if node is None:
        return []
    return [person_id_of(canonical_node((await components(conn, [node]))[node]))]


async def persons_by_name(conn: asyncpg.Pool | asyncpg.Connection, name: str, after: str | None,
                          limit: int) -> list[tuple[str, str]]:
    """Persons by name, tolerant of how agencies write it: first those with a record that
    spells it exactly (once normalized), then those with a name that sounds the same
    (张/章, 陈/程, …). Returns ``(person_id, "exact" | "sounds-alike")`` in that order, after
    the cursor ``after`` (``<0|1>:<person_id>``)."""
    norm = normalize_name(name)
    rows = await conn.fetch(
        "SELECT DISTINCT entity_id, member IN ($1, $2) AS exact FROM entity_member"
        " WHERE relation = 'name' AND member IN ($1, $2) AND entity_kind = 'record'"
        " UNION SELECT record, false FROM mention WHERE sound = $3 LIMIT 10000",
        name, norm, sound_key(norm))
    persons = await canonical_persons(conn, sorted({r[0] for r in rows}))
    exact = {persons[r[0]] for r in rows if r[1]}
    ranked = sorted({(0 if p in exact else 1, p) for p in persons.values()})
    if after:
        rank, _, pid = after.partition(":")
        ranked = [x for x in ranked if x > (int(rank) if rank.isdigit() else 0, pid)]
    return [(p, "exact" if r == 0 else "sounds-alike") for r, p in ranked[:limit]]


def is_overdue(due_at: str | None, status: str | None, at: datetime) -> bool:
    """Overdue is asked at a time: an open case whose due time has passed."""
    if not due_at or status == "closed":
        return False
    from schemas.envelope import parse_time

    try:
        return parse_time(due_at) < at
    except ValueError:
        return False


async def thread_nodes(conn: asyncpg.Pool | asyncpg.Connection, case_id: str
                       ) -> list[asyncpg.Record]:
    """The case nodes of the thread ``case_id`` belongs to, oldest first."""
    nodes = (await components(conn, [case_id], "case_edge"))[case_id]
    return await conn.fetch("SELECT case_id, opened_at FROM case_thread WHERE"
                            " case_id = ANY($1::text[]) ORDER BY opened_at, case_id", nodes)


# A case thread in one round trip: the thread's case nodes (walk over case_edge), their
# facts, and the person component of every party record (walk over person_edge).
_CASE = (
    "WITH RECURSIVE comp(node) AS (SELECT $1::text"
    " UNION SELECT x.dst FROM comp c " + STEP.format(table="case_edge") + "),"
    " ids AS MATERIALIZED (SELECT array_agg(node) AS a FROM comp),"
    " facts AS MATERIALIZED (" + _FACT_ROWS.format(
        kind="'case'", ids="SELECT unnest((SELECT a FROM ids))") + "),"
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


async def case(conn: asyncpg.Pool | asyncpg.Connection, case_id: str, at: datetime
               ) -> dict[str, Any] | None:
    """One thread per matter: every agency record joined by refs, read as one case."""
    rows = await conn.fetch(_CASE, case_id)
    nodes = sorted((r["time"], r["name"]) for r in rows if r["k"] == "n")
    if not nodes:
        return None
    ids = [n for _, n in nodes]
    fields, members = _fold_facts([r for r in rows if r["k"] != "p"])
    persons_of = {r["name"]: person_id_of(canonical_node(r["value"]))
                  for r in rows if r["k"] == "p"}
    status = _value(fields, "status") or "open"
    due_at = _value(fields, "due_at")
    return {
        "case_id": ids[0],
        "also_known_as": ids[1:],
        "refs": [m["attrs"] for m in members.get("ref", [])],
        "category": _value(fields, "category"),
        "status": status,
        "stage": _value(fields, "stage"),
        "due_at": due_at,
        "overdue": is_overdue(due_at, status, at),
        "grid": _value(fields, "grid"),
        "sealed": bool(_value(fields, "sealed")),
        "opened_at": nodes[0][0],
        "persons": [{"person_id": persons_of.get(m["attrs"]["record"]), "role": m["attrs"]["role"],
                     "agency": m["attrs"]["agency"]} for m in members.get("person", [])],
        "places": [{"place_id": m["member"], "text": (m["attrs"] or {}).get("text")}
                   for m in members.get("place", [])],
        "cites": [m["attrs"] for m in members.get("cites", [])],
        "escalations": [m["attrs"] for m in members.get("escalation", [])],
        "provenance": _provenance(fields),
    }


async def case_timeline(conn: asyncpg.Pool | asyncpg.Connection, case_id: str
                        ) -> list[dict[str, Any]]:
    """Every event of every agency record in the thread, in event time."""
    ids = [r["case_id"] for r in await thread_nodes(conn, case_id)]
    rows = await conn.fetch(
        "SELECT DISTINCT a.time, a.agency, a.type, a.event_id, a.summary, a.source"
        " FROM event_entity e JOIN event_archive a ON a.source = e.source"
        " AND a.event_id = e.event_id WHERE e.entity_kind = 'case'"
        " AND e.entity_id = ANY($1::text[]) ORDER BY a.time, a.source, a.event_id", ids)
    return [{k: r[k] for k in ("time", "agency", "type", "event_id", "summary")} for r in rows]


async def grid_board(conn: asyncpg.Pool | asyncpg.Connection, grid: str, at: datetime
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
        grid)
    residents = await conn.fetchval(
        "SELECT count(DISTINCT cp.entity_id) FROM entity_field pg JOIN entity_field cp"
        " ON cp.field = 'current_place' AND cp.value = to_jsonb(pg.entity_id)"
        " AND cp.entity_kind = 'record'"
        " WHERE pg.field = 'grid' AND pg.entity_kind = 'place' AND pg.value = to_jsonb($1::text)",
        grid)
    if not rows and not residents:
        return None
    board = {"grid": grid, "cases": {"open": 0, "overdue": 0, "closed": 0},
             "incidents": {"open": 0, "closed": 0}, "residents": residents,
             "overdue_case_ids": []}
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


async def place(conn: asyncpg.Pool | asyncpg.Connection, place_id: str) -> dict[str, Any] | None:
    fields, members = await _merged_facts(conn, "place", [place_id])
    if not fields and not members:
        return None
    residents = [r[0] for r in await conn.fetch(
        "SELECT entity_id FROM entity_field WHERE field = 'current_place'"
        " AND value = to_jsonb($1::text) AND entity_kind = 'record'", place_id)]
    persons = sorted(set((await canonical_persons(conn, residents)).values()))
    return {
        "place_id": place_id,
        "address": _value(fields, "address") or {},
        "grid": _value(fields, "grid"),
        "building_id": _value(fields, "building"),
        "spellings": [m["member"] for m in members.get("spelling", [])],
        "residents": persons,
        "cases": [m["member"] for m in members.get("case", [])],
        "provenance": _provenance(fields),
    }


async def places_in_grid(conn: asyncpg.Pool | asyncpg.Connection, grid: str, after: str | None,
                         limit: int) -> list[str]:
    rows = await conn.fetch(
        "SELECT entity_id FROM entity_field WHERE field = 'grid' AND value = to_jsonb($1::text)"
        " AND entity_kind = 'place' AND ($2::text IS NULL OR entity_id > $2)"
        " ORDER BY entity_id LIMIT $3", grid, after, limit)
    return [r[0] for r in rows]


CASE_FILTERS = ("grid", "status", "stage", "category")


async def case_facts(conn: asyncpg.Pool | asyncpg.Connection, case_ids: list[str],
                     fields: list[str]) -> dict[str, dict[str, Any]]:
    """The named fields of each case record (its own, not its thread's): id → field → value."""
    out: dict[str, dict[str, Any]] = {}
    if case_ids:
        for r in await conn.fetch(
                "SELECT entity_id, field, value FROM entity_field WHERE entity_kind = 'case'"
                " AND entity_id = ANY($1::text[]) AND field = ANY($2::text[])",
                case_ids, fields):
            out.setdefault(r[0], {})[r[1]] = r[2]
    return out


async def find_cases(conn: asyncpg.Pool | asyncpg.Connection, filters: dict[str, str],
                     agency: str | None, overdue: bool | None, at: datetime, after: str | None,
                     limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Case records matching every filter, in case id order, with a cursor for the next page.
    Each item is the record's own summary; ``GET /v1/cases/{id}`` gives the whole thread."""
    joins, args, where = [], [], []
    assert set(filters) <= set(CASE_FILTERS), filters  # names go into SQL: only known ones
    for i, (name, value) in enumerate(sorted(filters.items())):
        joins.append(f" JOIN entity_field f{i} ON f{i}.entity_kind = 'case'"
                     f" AND f{i}.entity_id = c.case_id AND f{i}.field = '{name}'"
                     f" AND f{i}.value = to_jsonb(${len(args) + 1}::text)")
        args.append(value)
    if agency:
        args.append(agency)
        where.append(f"EXISTS (SELECT 1 FROM record_link l WHERE l.entity_kind = 'case'"
                     f" AND l.entity_id = c.case_id AND l.agency = ${len(args)})")
    args.append(after)
    where.append(f"(${len(args)}::text IS NULL OR c.case_id > ${len(args)}::text)")
    sql = ("SELECT c.case_id FROM case_thread c" + "".join(joins) + " WHERE "
           + " AND ".join(where) + " ORDER BY c.case_id LIMIT 5000")
    ids = [r[0] for r in await conn.fetch(sql, *args)]
    out: list[dict[str, Any]] = []
    last = None
    for i in range(0, len(ids), 200):
        chunk = ids[i:i + 200]
        facts = await case_facts(conn, chunk,
                                 ["category", "status", "stage", "due_at", "grid", "sealed"])
        for cid in chunk:
            f = facts.get(cid, {})
            status = f.get("status") or "open"
            item = {"case_id": cid, "category": f.get("category"), "status": status,
                    "stage": f.get("stage"), "due_at": f.get("due_at"),
                    "overdue": is_overdue(f.get("due_at"), status, at), "grid": f.get("grid"),
                    "sealed": bool(f.get("sealed"))}
            if overdue is not None and item["overdue"] != overdue:
                continue
            out.append(item)
            last = cid
            if len(out) > limit:
                return out[:limit], out[limit - 1]["case_id"]
    return out, None if len(ids) < 5000 else last


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
        " WHERE g.field = 'grid' AND g.entity_kind = 'case'")
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        b = out.setdefault(r["grid"], {"grid": r["grid"], "open": 0, "overdue": 0, "closed": 0})
        status = r["status"] or "open"
        b["closed" if status == "closed" else "open"] += 1
        if is_overdue(r["due_at"], status, at):
            b["overdue"] += 1
    return [out[k] for k in sorted(out)]
