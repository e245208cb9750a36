"""Row writes of one batch: the archive (the contract's ``(source, id)`` dedupe), the
projection's changes as multi-row upserts (COPY into staging tables for the big ones), the
rejected records; and the record links the handlers read before they run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from projections.archive_chain import chain_links
from projections.changes import Changes
from projections.graph import ORIGIN_MERGE, components, write_edges, write_nodes
from projections.intake import InboundRecord, RejectedRecord, reused_id
from projections.names import sound_key
from projections.project import Accepted, Links, archive_rows


def stamp_text(stamp: tuple[Any, str, str]) -> str:
    """(time, source, id) as text that sorts like the tuple: UTC time at fixed width."""
    t = stamp[0].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{t}|{stamp[1]}|{stamp[2]}"


def _json(v: Any) -> str:
    return orjson.dumps(v).decode()


async def read_links(
    conn: asyncpg.Pool | asyncpg.Connection, keys: set[tuple[str, str, str]]
) -> Links:
    """Which hub entity each agency record ``(agency, kind, record_id)`` is linked to."""
    if not keys:
        return {}
    ks = sorted(keys)
    rows = await conn.fetch(
        "SELECT l.agency, l.kind, l.record_id, l.entity_kind, l.entity_id FROM record_link l"
        " JOIN unnest($1::text[], $2::text[], $3::text[]) AS x(a, k, r)"
        " ON l.agency = x.a AND l.kind = x.k AND l.record_id = x.r",
        [k[0] for k in ks],
        [k[1] for k in ks],
        [k[2] for k in ks],
    )
    return {
        (r["agency"], r["kind"], r["record_id"]): (r["entity_kind"], r["entity_id"]) for r in rows
    }


async def archive(
    conn: asyncpg.Connection, accepted: list[Accepted]
) -> tuple[list[Accepted], list[RejectedRecord]]:
    """Insert into the archive. Returns the events that were new (in log order), and the
    copies that reuse an archived (source, id) for different content (dead-lettered).

    A copy with the same content is the same event: nothing is applied again, and the
    archive keeps the lowest log position of its copies, so that which copy a worker
    happened to see first (partitions interleave freely) never shows in the read model.
    """
    if not accepted:
        return [], []
    rows = archive_rows(accepted)
    links = await chain_links(conn, rows)
    result = await conn.fetch(
        "INSERT INTO event_archive AS a (source, event_id, type, agency, time, subject, topic,"
        ' partition, "offset", version, data, summary, chain, chain_seq, chain_offset,'
        " prev_hash, hash, known_at)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        " $5::timestamptz[], $6::text[], $7::text[], $8::int[], $9::bigint[], $10::int[],"
        " $11::jsonb[], $12::text[], $13::text[], $14::bigint[], $9::bigint[], $15::bytea[],"
        " $16::bytea[], $17::timestamptz[])"
        " ON CONFLICT (source, event_id) DO UPDATE SET topic = excluded.topic,"
        ' partition = excluded.partition, "offset" = excluded."offset",'
        " known_at = excluded.known_at"
        " WHERE a.type = excluded.type AND a.data = excluded.data"
        ' AND (excluded.topic, excluded.partition, excluded."offset")'
        ' < (a.topic, a.partition, a."offset")'
        " RETURNING source, event_id, (xmax = 0) AS inserted",
        [a.env.source for a in rows],
        [a.env.id for a in rows],
        [a.env.type for a in rows],
        [a.env.agency for a in rows],
        [a.env.time for a in rows],
        [a.env.subject for a in rows],
        [a.topic for a in rows],
        [a.partition for a in rows],
        [a.offset for a in rows],
        [a.env.schema_version for a in rows],
        # What the agency sent, not the upcast shape: old events are never rewritten.
        [a.env.raw["data"] for a in rows],
        [a.summary for a in rows],
        *links.columns(),
        # when the hub took each in: the log's time of its record (the kept copy's)
        [
            None if a.known_at is None else datetime.fromtimestamp(a.known_at / 1000, UTC)
            for a in accepted
        ],
    )
    inserted = {(r["source"], r["event_id"]) for r in result if r["inserted"]}
    await links.commit(conn, inserted)
    new = [a for a in accepted if a.env.key in inserted]
    others = [a for a in accepted if a.env.key not in inserted]
    conflicts: list[RejectedRecord] = []
    if others:
        existing = await conn.fetch(
            "SELECT source, event_id, type, data FROM event_archive"
            " WHERE (source, event_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            [a.env.source for a in others],
            [a.env.id for a in others],
        )
        known = {(r["source"], r["event_id"]): (r["type"], r["data"]) for r in existing}
        for a in others:
            if known.get(a.env.key) != (a.env.type, a.env.raw["data"]):
                conflicts.append(
                    reused_id(InboundRecord(a.topic, a.partition, a.offset, None, None), a.env)
                )
    return new, conflicts


async def rethread(conn: asyncpg.Connection, nodes: list[str]) -> None:
    """Thread ids for the threads of ``nodes``: each node gets its thread's oldest node (by
    opened_at, then id), as a case read names the thread. Two workers joining one thread
    from two sides each see only their own new edge; so each first locks every node of the
    thread as it sees it, walks again (a new statement sees what was committed while it
    waited) and locks what that adds, until nothing does: the second then writes ids with
    the first's edges in view."""
    known: dict[str, asyncpg.Record | None] = {}  # locked: their values cannot change under us
    while True:
        comps = await components(conn, nodes, "case_edge")
        new = sorted({n for c in comps.values() for n in c} - known.keys())
        if not new:
            break
        for r in await conn.fetch(
            "SELECT case_id, opened_at, thread_id FROM case_thread"
            " WHERE case_id = ANY($1::text[]) ORDER BY case_id FOR UPDATE",
            new,
        ):
            known[r["case_id"]] = r
        known.update({n: None for n in new if n not in known})  # a ref to a case not yet seen
    moved: dict[str, str] = {}
    for members in comps.values():
        present = [known[n] for n in members if known.get(n) is not None]
        if not present:
            continue
        tid = min(present, key=lambda r: (r["opened_at"], r["case_id"]))["case_id"]
        moved.update({r["case_id"]: tid for r in present if r["thread_id"] != tid})
    if moved:
        await conn.execute(
            "UPDATE case_thread t SET thread_id = x.tid"
            " FROM unnest($1::text[], $2::text[]) AS x(c, tid) WHERE t.case_id = x.c",
            list(moved),
            list(moved.values()),
        )


async def write_changes(conn: asyncpg.Connection, ch: Changes) -> None:
    if ch.mentions:
        mi = sorted(ch.mentions.items())
        await conn.execute(
            "INSERT INTO mention AS m (record, name, national_id, nid_valid, birth_date, phone,"
            " stamp, sound, case_node, case_place) SELECT * FROM unnest($1::text[], $2::text[],"
            " $3::text[], $4::bool[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],"
            " $10::text[])"
            " ON CONFLICT (record) DO UPDATE SET name = excluded.name,"
            " national_id = excluded.national_id, nid_valid = excluded.nid_valid,"
            " birth_date = excluded.birth_date, phone = excluded.phone, stamp = excluded.stamp,"
            " sound = excluded.sound, case_node = excluded.case_node,"
            " case_place = excluded.case_place"
            " WHERE m.stamp IS NULL OR excluded.stamp > m.stamp",
            [k for k, _ in mi],
            [f.get("name") for _, (_, f) in mi],
            [f.get("national_id") for _, (_, f) in mi],
            [bool(f.get("nid_valid")) for _, (_, f) in mi],
            [f.get("birth_date") for _, (_, f) in mi],
            [f.get("phone") for _, (_, f) in mi],
            [stamp_text(st) for _, (st, _) in mi],
            [sound_key(f.get("name")) for _, (_, f) in mi],
            [f.get("case_node") for _, (_, f) in mi],
            [f.get("case_place") for _, (_, f) in mi],
        )
    if ch.mention_places:
        pi = sorted(ch.mention_places.items())
        await conn.execute(
            "INSERT INTO mention AS m (record, place_id, place_stamp)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
            " ON CONFLICT (record) DO UPDATE SET place_id = excluded.place_id,"
            " place_stamp = excluded.place_stamp"
            " WHERE m.place_stamp IS NULL OR excluded.place_stamp > m.place_stamp",
            [k for k, _ in pi],
            [v for _, (_, v) in pi],
            [stamp_text(st) for _, (st, _) in pi],
        )
    nid_edges: list[tuple[str, str]] = []
    if ch.mentions:
        # A record's identity-number edge follows its latest statement (the mention row),
        # whatever order statements came in: a number corrected later no longer joins the
        # record to the person of the old number.
        recs = sorted(ch.mentions)
        want = {
            r[0]: "nid:" + r[1]
            for r in await conn.fetch(
                "SELECT record, national_id FROM mention WHERE record = ANY($1::text[])"
                " AND nid_valid",
                recs,
            )
        }
        stale = [
            (r[0], r[1])
            for r in await conn.fetch(
                "SELECT src, dst FROM person_edge WHERE src = ANY($1::text[])"
                " AND dst LIKE 'nid:%' AND origin = 'national_id'",
                recs,
            )
            if want.get(r[0]) != r[1]
        ]
        if stale:
            await conn.execute(
                "DELETE FROM person_edge e USING unnest($1::text[], $2::text[]) AS x(a, b)"
                " WHERE (e.src = x.a AND e.dst = x.b) OR (e.src = x.b AND e.dst = x.a)",
                [a for a, _ in stale],
                [b for _, b in stale],
            )
        nid_edges = sorted(want.items())
    if nid_edges:
        await write_edges(conn, nid_edges, "national_id")
    nodes = (
        {n for e in nid_edges for n in e}
        | set(ch.mentions)
        | set(ch.mention_places)
        | {e[1] for e in ch.entities if e[0] == "record"}
    )
    if nodes:
        await write_nodes(conn, nodes)
    if ch.case_edges:
        ce = sorted(ch.case_edges.items())
        src = [a for (a, b), _ in ce] + [b for (a, b), _ in ce]
        dst = [b for (a, b), _ in ce] + [a for (a, b), _ in ce]
        origin = [o for _, o in ce] * 2
        await conn.execute(
            "INSERT INTO case_edge AS e (src, dst, origin) SELECT * FROM"
            " unnest($1::text[], $2::text[], $3::text[]) ORDER BY 1, 2"
            " ON CONFLICT (src, dst) DO UPDATE SET origin = " + ORIGIN_MERGE,
            src,
            dst,
            origin,
        )
    moved = sorted({n for e in ch.case_edges for n in e})
    if ch.cases:
        items2 = sorted(ch.cases.items())
        # A new node is a thread of its own (its id its own) unless a ref already reached
        # it; only those, and nodes that open earlier than known, can change a thread's id.
        rows = await conn.fetch(
            "INSERT INTO case_thread AS t (case_id, opened_at, thread_id)"
            " SELECT c, o, c FROM unnest($1::text[], $2::timestamptz[]) AS x(c, o)"
            " ON CONFLICT (case_id) DO UPDATE SET opened_at = excluded.opened_at"
            " WHERE excluded.opened_at < t.opened_at RETURNING case_id, xmax = 0 AS inserted",
            [k for k, _ in items2],
            [v for _, v in items2],
        )
        moved += [r[0] for r in rows if not r[1]]
        edged = set(moved)
        new = [r[0] for r in rows if r[1] and r[0] not in edged]
        if new:
            moved += [
                r[0]
                for r in await conn.fetch(
                    "SELECT DISTINCT src FROM case_edge WHERE src = ANY($1::text[])", new
                )
            ]
    if moved:
        await rethread(conn, sorted(set(moved)))
    if ch.links:
        li = sorted(ch.links.items())
        await conn.execute(
            "INSERT INTO record_link (agency, kind, record_id, entity_kind, entity_id)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])"
            " ON CONFLICT (agency, kind, record_id) DO UPDATE SET"
            " entity_kind = excluded.entity_kind, entity_id = excluded.entity_id",
            [k[0] for k, _ in li],
            [k[1] for k, _ in li],
            [k[2] for k, _ in li],
            [v[0] for _, v in li],
            [v[1] for _, v in li],
        )
    if ch.fields:
        await _stage(
            conn,
            "stage_field",
            [(k[0], k[1], k[2], _json(f.value), *f.stamp, f.agency) for k, f in ch.fields.items()],
        )
        await conn.execute(
            "INSERT INTO entity_field (entity_kind, entity_id, field, value, time, source,"
            " event_id, agency) SELECT entity_kind, entity_id, field, value::jsonb, time,"
            " source, event_id, agency FROM stage_field ORDER BY 1, 2, 3"
            " ON CONFLICT (entity_kind, entity_id, field) DO UPDATE SET"
            " value = excluded.value, time = excluded.time, source = excluded.source,"
            " event_id = excluded.event_id, agency = excluded.agency"
            " WHERE (excluded.time, excluded.source, excluded.event_id)"
            " > (entity_field.time, entity_field.source, entity_field.event_id)"
        )
    if ch.members:
        await _stage(
            conn,
            "stage_member",
            [
                (k[0], k[1], k[2], k[3], _json(m.attrs), *m.stamp, m.agency)
                for k, m in ch.members.items()
            ],
        )
        await conn.execute(
            "INSERT INTO entity_member (entity_kind, entity_id, relation, member, attrs, time,"
            " source, event_id, agency) SELECT entity_kind, entity_id, relation, member,"
            " attrs::jsonb, time, source, event_id, agency FROM stage_member"
            " ORDER BY 1, 2, 3, 4"
            " ON CONFLICT (entity_kind, entity_id, relation, member) DO UPDATE SET"
            " attrs = excluded.attrs, time = excluded.time, source = excluded.source,"
            " event_id = excluded.event_id, agency = excluded.agency"
            " WHERE (excluded.time, excluded.source, excluded.event_id)"
            " < (entity_member.time, entity_member.source, entity_member.event_id)"
        )
    if ch.entities:
        await _stage(conn, "stage_entity", list(ch.entities))
        await conn.execute(
            "INSERT INTO event_entity (entity_kind, entity_id, time, source, event_id)"
            " SELECT * FROM stage_entity ORDER BY 1, 2, 3, 4, 5 ON CONFLICT DO NOTHING"
        )


async def _stage(conn: asyncpg.Connection, table: str, records: list[tuple[Any, ...]]) -> None:
    """COPY rows into a staging table (created by ``_init_connection``, emptied at commit):
    binary COPY is far cheaper than encoding large parameter arrays. One INSERT … ON
    CONFLICT then merges them."""
    await conn.copy_records_to_table(table, records=records)


async def record_rejected(conn: asyncpg.Connection, rejected: Sequence[RejectedRecord]) -> None:
    await conn.executemany(
        'INSERT INTO deadletter (topic, partition, "offset", key, value, reason, detail,'
        " field, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT DO NOTHING",
        [
            (
                r.record.topic,
                r.record.partition,
                r.record.offset,
                r.record.key,
                r.record.value or b"",
                r.reason,
                r.detail,
                r.field,
                r.event_id,
            )
            for r in rejected
        ],
    )


# Every table the projection writes (so a rebuild must reproduce), with its columns.
