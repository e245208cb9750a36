"""A person (its records, names, addresses, cases, provenance), and finding persons by
identity number or by name as agencies write it."""

from __future__ import annotations

from typing import Any

import asyncpg

from projections.graph import STEP, canonical_node, canonical_persons, components, person_id_of
from projections.names import normalize_name, sound_key
from projections.reads.facts import FACT_ROWS, field_value, fold_facts, provenance, split_record

# A person in one round trip: its node, the component (identity numbers and decisions), and
# the facts of every record in it.
_PERSON = (
    "WITH RECURSIVE comp(node) AS (SELECT node FROM person_node WHERE person_id = $1"
    " UNION SELECT x.dst FROM comp c " + STEP.format(table="person_edge") + "),"
    " facts AS MATERIALIZED ("
    + FACT_ROWS.format(kind="'record'", ids="SELECT unnest((SELECT array_agg(node) FROM comp))")
    + ")"
    " SELECT 'n' AS k, node AS name, NULL::jsonb AS value, NULL::jsonb AS attrs,"
    " NULL::timestamptz AS time, NULL AS source, NULL AS event_id, NULL AS agency FROM comp"
    " UNION ALL SELECT * FROM facts"
    # the thread (its id now, and whether it is sealed) of every case record the person
    # is a party of, and the case record each of the person's records is a party of
    " UNION ALL SELECT 't', t.case_id, jsonb_build_object('thread', t.thread_id, 'sealed',"
    " (SELECT f.value FROM case_thread t2 JOIN entity_field f ON f.entity_kind = 'case'"
    " AND f.entity_id = t2.case_id AND f.field = 'sealed' WHERE t2.thread_id = t.thread_id"
    " ORDER BY f.time DESC, f.source DESC, f.event_id DESC LIMIT 1)),"
    " NULL, NULL, NULL, NULL, NULL FROM case_thread t WHERE t.case_id IN ("
    " SELECT attrs->>'case_id' FROM facts WHERE k = 'm' AND name LIKE 'case' || chr(31) || '%'"
    " UNION SELECT case_node FROM mention WHERE record IN (SELECT node FROM comp))"
    " UNION ALL SELECT 'r', record, to_jsonb(case_node), NULL, NULL, NULL, NULL, NULL"
    " FROM mention WHERE record IN (SELECT node FROM comp) AND case_node IS NOT NULL"
)


def _threads_of(
    cases: list[dict[str, Any]], thread: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each thread once, by its id now (the record ids keep answering GET /v1/cases), with
    every role the person has in it (a reporter to the city, a defendant in court), and
    whether it is sealed (for the policy)."""
    out: dict[str, dict[str, Any]] = {}
    for c in cases:
        t = thread.get(c["case_id"]) or {}
        tid = t.get("thread") or c["case_id"]
        role = {"role": c["role"], "agency": c["agency"]}
        item = out.setdefault(
            tid, {"case_id": tid, **role, "roles": [], "sealed": bool(t.get("sealed"))}
        )
        if role not in item["roles"]:
            item["roles"].append(role)
    return list(out.values())


def _record(rec: str, case: str | None, threads: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A record the person was resolved from; a case party's record with its thread."""
    out: dict[str, Any] = split_record(rec)
    t = threads.get(case or "")
    if t:
        out["case_id"] = t.get("thread") or case
        out["sealed"] = bool(t.get("sealed"))
    return out


async def person(conn: asyncpg.Pool | asyncpg.Connection, person_id: str) -> dict[str, Any] | None:
    rows = await conn.fetch(_PERSON, person_id)
    if not rows:
        return None
    nodes = sorted(r["name"] for r in rows if r["k"] == "n")
    records = [n for n in nodes if not n.startswith("nid:")]
    nids = sorted(n[4:] for n in nodes if n.startswith("nid:"))
    fields, members = fold_facts(rows)

    def listed(relation: str) -> list[dict[str, Any]]:
        return members.get(relation, [])

    threads = {r["name"]: r["value"] for r in rows if r["k"] == "t"}
    case_of = {r["name"]: r["value"] for r in rows if r["k"] == "r"}
    current = field_value(fields, "current_place")
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
        "gender": field_value(fields, "gender"),
        "birth_date": field_value(fields, "birth_date"),
        "phones": [m["member"] for m in listed("phone")],
        "status": field_value(fields, "status") or "known",
        "records": [_record(r, case_of.get(r), threads) for r in sorted(records)],
        "addresses": [
            {
                "place_id": m["member"],
                "text": (m["attrs"] or {}).get("text"),
                "current": m["member"] == current,
            }
            for m in listed("address")
        ],
        "cases": _threads_of([m["attrs"] for m in listed("case")], threads),
        "assistance": [m["attrs"] for m in listed("assistance")],
        "provenance": provenance(fields, hide=("national_id_valid",)),
    }


async def persons_by_national_id(conn: asyncpg.Pool | asyncpg.Connection, nid: str) -> list[str]:
    node = await conn.fetchval("SELECT node FROM person_node WHERE node = $1", f"nid:{nid}")
    if node is None:
        return []
    return [person_id_of(canonical_node((await components(conn, [node]))[node]))]


async def persons_by_name(
    conn: asyncpg.Pool | asyncpg.Connection, name: str, after: str | None, limit: int
) -> list[tuple[str, str]]:
    """Persons by name, tolerant of how agencies write it: first those with a record that
    spells it exactly (once normalized), then those with a name that sounds the same
    (张/章, 陈/程, …). Returns ``(person_id, "exact" | "sounds-alike")`` in that order, after
    the cursor ``after`` (``<0|1>:<person_id>``)."""
    norm = normalize_name(name)
    rows = await conn.fetch(
        "SELECT DISTINCT entity_id, member IN ($1, $2) AS exact FROM entity_member"
        " WHERE relation = 'name' AND member IN ($1, $2) AND entity_kind = 'record'"
        " UNION SELECT record, false FROM mention WHERE sound = $3 LIMIT 10000",
        name,
        norm,
        sound_key(norm),
    )
    persons = await canonical_persons(conn, sorted({r[0] for r in rows}))
    exact = {persons[r[0]] for r in rows if r[1]}
    ranked = sorted({(0 if p in exact else 1, p) for p in persons.values()})
    if after:
        rank, _, pid = after.partition(":")
        ranked = [x for x in ranked if x > (int(rank) if rank.isdigit() else 0, pid)]
    return [(p, "exact" if r == 0 else "sounds-alike") for r, p in ranked[:limit]]


__all__ = ["canonical_persons", "person", "persons_by_name", "persons_by_national_id"]
