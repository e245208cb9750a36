"""A person (its records, names, addresses, cases, provenance), and finding persons by
identity number or by name as agencies write it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from projections.graph import STEP, canonical_node, canonical_persons, components, person_id_of
from projections.names import normalize_name, sound_key
from projections.reads.facts import field_value, fold_facts, provenance, split_record, thread_sealed
from projections.reads.places import place_ids_as_read

# The facts of each record, with the record they were stated on (``rec``).
_RECORD_FACTS = (
    "SELECT 'f' AS k, field AS name, value, NULL::jsonb AS attrs, time, source, event_id,"
    " agency, entity_id AS rec FROM entity_field WHERE entity_kind = 'record'"
    " AND entity_id IN (SELECT node FROM comp)"
    " UNION ALL SELECT 'm', relation || chr(31) || member, NULL, attrs, time, source,"
    " event_id, agency, entity_id FROM entity_member WHERE entity_kind = 'record'"
    " AND entity_id IN (SELECT node FROM comp)"
)
# A person in one round trip: its node, the component (identity numbers and decisions), the
# facts of every record in it, the thread (its id now, and whether it is sealed) of every
# case record the person is a party of, and the case record each record is a party of.
_PERSON = (
    "WITH RECURSIVE comp(node) AS (SELECT node FROM person_node WHERE person_id = $1"
    " UNION SELECT x.dst FROM comp c " + STEP.format(table="person_edge") + "),"
    " facts AS MATERIALIZED (" + _RECORD_FACTS + "),"
    # each record's case node, looked up per record (a semi-join on the component, whose
    # size the planner cannot estimate, read the whole mention table instead)
    " parties AS MATERIALIZED (SELECT m.record, m.case_node FROM comp c CROSS JOIN LATERAL"
    "  (SELECT record, case_node FROM mention WHERE record = c.node AND case_node IS NOT NULL)"
    "  AS m)"
    " SELECT 'n' AS k, node AS name, NULL::jsonb AS value, NULL::jsonb AS attrs,"
    " NULL::timestamptz AS time, NULL AS source, NULL AS event_id, NULL AS agency,"
    " NULL AS rec FROM comp"
    " UNION ALL SELECT * FROM facts"
    " UNION ALL SELECT 't', t.case_id, jsonb_build_object('thread', t.thread_id, 'sealed', "
    + thread_sealed("t.thread_id")
    + "),"
    " NULL, NULL, NULL, NULL, NULL, NULL FROM ("
    " SELECT attrs->>'case_id' AS c FROM facts WHERE k = 'm' AND name LIKE 'case' || chr(31) || '%'"
    " UNION SELECT case_node FROM parties) AS x"
    " CROSS JOIN LATERAL (SELECT case_id, thread_id FROM case_thread WHERE case_id = x.c) AS t"
    " UNION ALL SELECT 'r', record, to_jsonb(case_node), NULL, NULL, NULL, NULL, NULL, NULL"
    " FROM parties"
)
# Whom to ask about a record a reader may not see (None: the reader may see it), given the
# record, its roles in cases and whether its thread is sealed.
Withhold = Callable[[str, list[str], bool], "frozenset[str] | None"]


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


async def person(
    conn: asyncpg.Pool | asyncpg.Connection, person_id: str, withhold: Withhold | None = None
) -> dict[str, Any] | None:
    """The person as a reader may see it: built from the records ``withhold`` lets through
    only (their facts, identity numbers, cases and provenance); the others are counted in
    ``withheld`` with whom to ask. None when there is no such person, or when every record
    of it is withheld (the reader does not learn it exists)."""
    rows = await conn.fetch(_PERSON, person_id)
    if not rows:
        return None
    threads = {r["name"]: r["value"] for r in rows if r["k"] == "t"}
    case_of = {r["name"]: r["value"] for r in rows if r["k"] == "r"}
    all_nodes = sorted(r["name"] for r in rows if r["k"] == "n")
    records = [n for n in all_nodes if not n.startswith("nid:")]
    ask: set[str] = set()
    hidden: set[str] = set()
    if withhold is not None:
        roles: dict[str, list[str]] = {}
        for r in rows:
            if r["k"] == "m" and r["name"].startswith("case" + chr(31)):
                roles.setdefault(r["rec"], []).append((r["attrs"] or {}).get("role"))
        for rec in records:
            sealed = bool((threads.get(case_of.get(rec) or "") or {}).get("sealed"))
            who = withhold(rec, roles.get(rec, []), sealed)
            if who is not None:
                hidden.add(rec)
                ask |= who
        if hidden and len(hidden) == len(records):
            return None
    seen = [r for r in rows if r["k"] not in ("f", "m") or r["rec"] not in hidden]
    fields, members = fold_facts(seen)
    records = [r for r in records if r not in hidden]
    all_nids = {n[4:] for n in all_nodes if n.startswith("nid:")}
    stated = {r["value"] for r in seen if r["k"] == "f" and r["name"] == "national_id"}
    nids = sorted(all_nids & stated if hidden else all_nids)
    nodes = [
        n for n in all_nodes if n not in hidden and (not n.startswith("nid:") or n[4:] in nids)
    ]

    def listed(relation: str) -> list[dict[str, Any]]:
        return members.get(relation, [])

    current = field_value(fields, "current_place")
    canonical = person_id_of(canonical_node(all_nodes))
    # A number that fails its checksum is kept and shown, never used as a key.
    invalid = [fields["national_id"]["value"]] if not nids and "national_id" in fields else []
    out = {
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
        "addresses": await place_ids_as_read(
            conn,
            [
                {
                    "place_id": m["member"],
                    "text": (m["attrs"] or {}).get("text"),
                    "current": m["member"] == current,
                }
                for m in listed("address")
            ],
        ),
        "cases": _threads_of([m["attrs"] for m in listed("case")], threads),
        "assistance": [m["attrs"] for m in listed("assistance")],
        "provenance": provenance(fields, hide=("national_id_valid",)),
    }
    if hidden:
        out["withheld"] = {"count": len(hidden), "ask": sorted(ask)}
    return out


def answers_to(person: dict[str, Any], name: str, exact: bool) -> bool:
    """Whether a person as shown carries ``name`` (normalized; or as it sounds)."""
    norm = normalize_name(name)
    if exact:
        return any(normalize_name(n) == norm for n in person.get("names", []))
    return any(sound_key(normalize_name(n)) == sound_key(norm) for n in person.get("names", []))


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


async def withheld_records(
    conn: asyncpg.Pool | asyncpg.Connection, records: list[str], withhold: Withhold
) -> set[str]:
    """Which of ``records`` the reader may not see: by their roles in cases and whether
    their thread is sealed, as :func:`person` decides."""
    if not records:
        return set()
    rows = await conn.fetch(
        "SELECT x.r AS record, (SELECT array_agg(m.attrs->>'role') FROM entity_member m"
        " WHERE m.entity_kind = 'record' AND m.entity_id = x.r AND m.relation = 'case') AS roles,"
        " (SELECT " + thread_sealed("t.thread_id") + " FROM mention me JOIN case_thread t"
        "  ON t.case_id = me.case_node WHERE me.record = x.r) AS sealed"
        " FROM unnest($1::text[]) AS x(r)",
        sorted(set(records)),
    )
    return {
        r["record"]
        for r in rows
        if withhold(r["record"], [x for x in r["roles"] or [] if x], bool(r["sealed"])) is not None
    }
