"""The chronology's reads (contract section 8): which records, case nodes and places a set of
persons, cases and places stands for; the archived events that touched them, with every
entity each touched; what the policy needs to know of those entities (a record's roles in
cases, whether a thread is sealed); and the audit rows of reads about the subjects.

Plain reads of the live read model: nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from projections.graph import canonical_persons, components
from projections.reads import persons as persons_reads
from projections.reads.asof import KNOWN_AT
from projections.reads.facts import thread_sealed

Conn = asyncpg.Pool | asyncpg.Connection


@dataclass
class Subjects:
    """What the asked ids stand for in the read model."""

    persons: list[str] = field(default_factory=list)  # canonical person ids, as asked
    person_ids: set[str] = field(default_factory=set)  # every id of those persons (merged)
    records: set[str] = field(default_factory=set)  # their agency records (record nodes)
    cases: list[str] = field(default_factory=list)  # the case ids as asked
    case_nodes: set[str] = field(default_factory=set)  # every case node of their threads
    places: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # asked ids the hub does not know

    def audit_ids(self) -> list[str]:
        """The subject ids a read of these is audited under."""
        return sorted(self.person_ids | set(self.cases) | self.case_nodes | set(self.places))


async def resolve(
    conn: Conn, persons: Sequence[str], cases: Sequence[str], places: Sequence[str]
) -> Subjects:
    """A person stands for every record of it (under any of its ids) and the case nodes of
    every thread it is a party of; a case for every node of its thread."""
    out = Subjects()
    threads: list[str] = []
    for pid in dict.fromkeys(persons):
        p = await persons_reads.person(conn, pid)
        if p is None:
            out.missing.append(pid)
            continue
        out.persons.append(p["person_id"])
        out.person_ids |= {pid, p["person_id"], *p["also_known_as"]}
        out.records |= {f"{r['agency']}:{r['kind']}:{r['id']}" for r in p["records"]}
        threads += [c["case_id"] for c in p["cases"]]
    for cid in dict.fromkeys(cases):
        known = await conn.fetchval("SELECT 1 FROM case_thread WHERE case_id = $1", cid)
        if known is None:
            out.missing.append(cid)
            continue
        out.cases.append(cid)
        threads.append(cid)
    for nodes in (await components(conn, threads, "case_edge")).values():
        out.case_nodes |= set(nodes)
    for plid in dict.fromkeys(places):
        known = await conn.fetchval(
            "SELECT 1 FROM event_entity WHERE entity_kind = 'place' AND entity_id = $1 LIMIT 1",
            plid,
        )
        (out.places if known else out.missing).append(plid)
    out.persons = list(dict.fromkeys(out.persons))
    return out


_EVENTS = (
    "WITH hit AS (SELECT DISTINCT source, event_id FROM event_entity WHERE"
    " (entity_kind = 'record' AND entity_id = ANY($1::text[]))"
    " OR (entity_kind = 'case' AND entity_id = ANY($2::text[]))"
    " OR (entity_kind = 'place' AND entity_id = ANY($3::text[])))"
    " SELECT a.source, a.event_id, a.type, a.agency, a.time, a.subject, a.version, a.data,"
    " a.summary, "
    + KNOWN_AT.format(a="a")
    + " AS known_at, a.chain, a.chain_seq, a.chain_offset, a.prev_hash, a.hash,"
    " (SELECT array_agg(e.entity_kind || ':' || e.entity_id) FROM event_entity e"
    "  WHERE e.source = a.source AND e.event_id = a.event_id) AS touched"
    " FROM hit JOIN event_archive a USING (source, event_id)"
)


async def events(conn: Conn, subjects: Subjects) -> list[asyncpg.Record]:
    """Every archived event that touched a record, case node or place of the subjects (the
    agencies' events and the hub's notices), with the entities each touched
    (``kind:id``)."""
    return await conn.fetch(
        _EVENTS, sorted(subjects.records), sorted(subjects.case_nodes), sorted(subjects.places)
    )


@dataclass
class Restrictions:
    """What the policy asks of the entities some events touched."""

    record_roles: dict[str, list[str]] = field(default_factory=dict)
    record_sealed: dict[str, bool] = field(default_factory=dict)
    case_sealed: dict[str, bool] = field(default_factory=dict)


async def restrictions(conn: Conn, records: Sequence[str], cases: Sequence[str]) -> Restrictions:
    """Each record's roles in cases and whether its thread is sealed now; each case node's
    thread sealed or not (as :func:`projections.reads.persons.person` decides)."""
    out = Restrictions()
    if records:
        for r in await conn.fetch(
            "SELECT x.r AS record, (SELECT array_agg(m.attrs->>'role') FROM entity_member m"
            " WHERE m.entity_kind = 'record' AND m.entity_id = x.r AND m.relation = 'case')"
            " AS roles, (SELECT " + thread_sealed("t.thread_id") + " FROM mention me JOIN"
            " case_thread t ON t.case_id = me.case_node WHERE me.record = x.r) AS sealed"
            " FROM unnest($1::text[]) AS x(r)",
            sorted(set(records)),
        ):
            out.record_roles[r["record"]] = [x for x in r["roles"] or [] if x]
            out.record_sealed[r["record"]] = bool(r["sealed"])
    if cases:
        for r in await conn.fetch(
            "SELECT t.case_id, " + thread_sealed("t.thread_id") + " AS sealed"
            " FROM case_thread t WHERE t.case_id = ANY($1::text[])",
            sorted(set(cases)),
        ):
            out.case_sealed[r["case_id"]] = bool(r["sealed"])
    return out


_READS = (
    "SELECT id, seq, prev_hash, hash, at, user_name, agency, role, client, method, path,"
    " purpose, subject_ids, outcome, case_ref FROM audit_log"
    " WHERE (subject_ids && $1::text[] OR (subject_ids && $2::text[] AND {case_paths}))"
    " AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)"
    " ORDER BY seq NULLS LAST, id"
)


async def reads(
    conn: Conn,
    subjects: Subjects,
    persons_of_cases: Sequence[str],
    start: datetime | None,
    end: datetime | None,
) -> list[asyncpg.Record]:
    """Reads about the subjects: every audit row naming one of them (persons are audited
    under their ids, replay reads under every id they cover); and, for the cases asked,
    reads that named one of their persons with a path naming one of the thread's nodes (a
    case read is audited under its persons)."""
    nodes = sorted(subjects.case_nodes if subjects.cases else set())
    paths = " OR ".join(f"strpos(path, ${i + 5}) > 0" for i in range(len(nodes))) or "false"
    return await conn.fetch(
        _READS.format(case_paths=f"({paths})"),
        subjects.audit_ids(),
        sorted(set(persons_of_cases)) if nodes else [],
        start,
        end,
        *nodes,
    )


async def persons_of_cases(conn: Conn, case_nodes: Sequence[str]) -> list[str]:
    """The person ids of the parties of some case nodes (a case read is audited under them)."""
    if not case_nodes:
        return []
    rows = await conn.fetch(
        "SELECT DISTINCT attrs->>'record' FROM entity_member WHERE entity_kind = 'case'"
        " AND relation = 'person' AND entity_id = ANY($1::text[]) AND attrs ? 'record'",
        sorted(set(case_nodes)),
    )
    records = [r[0] for r in rows if r[0]]
    return sorted(set((await canonical_persons(conn, records)).values()))


def row_dict(r: asyncpg.Record) -> dict[str, Any]:
    return dict(r.items())
