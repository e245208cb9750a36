"""Reads of the read model, shaped as contract section 4/5 names them. No policy here: the
API passes every answer through :mod:`hub.policy` before it leaves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from projections.graph import canonical_node, canonical_persons, components, person_id_of

_FACTS = (
    "SELECT 'f' AS k, field AS name, value, NULL::jsonb AS attrs, time, event_id, agency"
    " FROM entity_field WHERE entity_kind = $1 AND entity_id = $2"
    " UNION ALL"
    " SELECT 'm', relation || chr(31) || member, NULL, attrs, time, event_id, agency"
    " FROM entity_member WHERE entity_kind = $1 AND entity_id = $2"
)


async def _facts(conn: asyncpg.Pool | asyncpg.Connection, kind: str, entity_id: str
                 ) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    fields: dict[str, dict[str, Any]] = {}
    members: dict[str, list[dict[str, Any]]] = {}
    for r in await conn.fetch(_FACTS, kind, entity_id):
        prov = {"event_id": r["event_id"], "agency": r["agency"], "time": r["time"]}
        if r["k"] == "f":
            fields[r["name"]] = {"value": r["value"], **prov}
        else:
            relation, member = r["name"].split(chr(31), 1)
            members.setdefault(relation, []).append({"member": member, "attrs": r["attrs"], **prov})
    for lst in members.values():
        lst.sort(key=lambda m: (m["time"], m["member"]))
    return fields, members


def _value(fields: dict[str, dict[str, Any]], name: str) -> Any:
    f = fields.get(name)
    return f["value"] if f else None


def _split_record(rec: str) -> dict[str, str]:
    agency, kind, rid = rec.split(":", 2)
    return {"agency": agency, "kind": kind, "id": rid}


async def person(conn: asyncpg.Pool | asyncpg.Connection, person_id: str) -> dict[str, Any] | None:
    node = await conn.fetchval("SELECT node FROM person_node WHERE person_id = $1", person_id)
    if node is None:
        return None
    nodes = (await components(conn, [node]))[node]
    records = [n for n in nodes if not n.startswith("nid:")]
    nids = sorted(n[4:] for n in nodes if n.startswith("nid:"))
    rows = await conn.fetch(
        "SELECT 'f' AS k, field AS name, value, NULL::jsonb AS attrs, time, source, event_id,"
        " agency FROM entity_field WHERE entity_kind = 'record' AND entity_id = ANY($1::text[])"
        " UNION ALL SELECT 'm', relation || chr(31) || member, NULL, attrs, time, source,"
        " event_id, agency FROM entity_member WHERE entity_kind = 'record'"
        " AND entity_id = ANY($1::text[])", records)
    fields: dict[str, dict[str, Any]] = {}
    members: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        stamp = (r["time"], r["source"], r["event_id"])
        fact = {"value": r["value"], "attrs": r["attrs"], "event_id": r["event_id"],
                "agency": r["agency"], "time": r["time"], "stamp": stamp}
        if r["k"] == "f":
            cur = fields.get(r["name"])
            if cur is None or stamp > cur["stamp"]:
                fields[r["name"]] = fact  # the latest statement across the person's records
        else:
            relation, member = r["name"].split(chr(31), 1)
            rel = members.setdefault(relation, {})
            if member not in rel or stamp < rel[member]["stamp"]:
                rel[member] = {**fact, "member": member}

    def listed(relation: str) -> list[dict[str, Any]]:
        return sorted(members.get(relation, {}).values(), key=lambda m: (m["stamp"], m["member"]))

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
        "provenance": {name: {"event_id": f["event_id"], "agency": f["agency"], "time": f["time"]}
                       for name, f in sorted(fields.items())
                       if name not in ("national_id_valid",)},
    }


async def persons_by_national_id(conn: asyncpg.Pool | asyncpg.Connection, nid: str) -> list[str]:
    node = await conn.fetchval("SELECT node FROM person_node WHERE node = $1", f"nid:{nid}")
    if node is None:
        return []
    return [person_id_of(canonical_node((await components(conn, [node]))[node]))]


async def persons_by_name(conn: asyncpg.Pool | asyncpg.Connection, name: str, after: str | None,
                          limit: int) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT entity_id FROM entity_member WHERE relation = 'name' AND member = $1"
        " AND entity_kind = 'record' LIMIT 10000", name)
    ids = sorted(set((await canonical_persons(conn, [r[0] for r in rows])).values()))
    return [i for i in ids if after is None or i > after][:limit]


def is_overdue(due_at: str | None, status: str | None, at: datetime) -> bool:
    """Overdue is asked at a time: an open case whose due time has passed."""
    if not due_at or status == "closed":
        return False
    from schemas.envelope import parse_time

    try:
        return parse_time(due_at) < at
    except ValueError:
        return False


async def case(conn: asyncpg.Pool | asyncpg.Connection, case_id: str, at: datetime
               ) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM case_thread WHERE case_id = $1", case_id)
    if row is None:
        return None
    fields, members = await _facts(conn, "case", case_id)
    status = _value(fields, "status") or "open"
    due_at = _value(fields, "due_at")
    persons_of = await canonical_persons(
        conn, [m["attrs"]["record"] for m in members.get("person", [])])
    return {
        "case_id": case_id,
        "refs": [m["attrs"] for m in members.get("ref", [])],
        "category": _value(fields, "category"),
        "status": status,
        "stage": _value(fields, "stage"),
        "due_at": due_at,
        "overdue": is_overdue(due_at, status, at),
        "grid": _value(fields, "grid"),
        "sealed": bool(_value(fields, "sealed")),
        "opened_at": row["opened_at"],
        "persons": [{"person_id": persons_of.get(m["attrs"]["record"]), "role": m["attrs"]["role"],
                     "agency": m["attrs"]["agency"]} for m in members.get("person", [])],
        "places": [{"place_id": m["member"], "text": (m["attrs"] or {}).get("text")}
                   for m in members.get("place", [])],
        "cites": [m["attrs"] for m in members.get("cites", [])],
        "escalations": [m["attrs"] for m in members.get("escalation", [])],
        "provenance": {
            name: {"event_id": f["event_id"], "agency": f["agency"], "time": f["time"]}
            for name, f in sorted(fields.items())
        },
    }


async def timeline(conn: asyncpg.Pool | asyncpg.Connection, kind: str, entity_id: str
                   ) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT a.time, a.agency, a.type, a.event_id, a.summary FROM event_entity e"
        " JOIN event_archive a ON a.source = e.source AND a.event_id = e.event_id"
        " WHERE e.entity_kind = $1 AND e.entity_id = $2 ORDER BY e.time, e.source, e.event_id",
        kind, entity_id,
    )
    return [dict(r) for r in rows]


async def case_by_ref(conn: asyncpg.Pool | asyncpg.Connection, agency: str, kind: str,
                      record_id: str) -> str | None:
    return await conn.fetchval(
        "SELECT entity_id FROM record_link WHERE agency = $1 AND kind = $2 AND record_id = $3"
        " AND entity_kind = 'case'",
        agency, kind, record_id,
    )
