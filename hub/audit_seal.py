"""Rows written before the chains existed (a read model migrated to 050_audit_chain.sql with
an audit log and an archive already in it) are chained once, right after the migrations
and before any worker or API starts (``civic-hub up``, ``civic-hub migrate``): the audit
rows in id order, each archive partition in offset order, as a rebuild would. A chain that
has begun is never extended backwards: rows outside it stay so, and ``audit verify`` names
them."""

from __future__ import annotations

from collections import defaultdict

import asyncpg
import structlog

from hub.audit import audit_values
from projections.chain import GENESIS, archive_chain, archive_values, link, normalized
from projections.db import create_pool

log = structlog.get_logger("hub.audit_seal")


async def _seal_audit(conn: asyncpg.Connection) -> int:
    head = await conn.fetchrow(
        "SELECT seq, hash FROM audit_chain_head WHERE chain = 'audit' FOR UPDATE"
    )
    rows = await conn.fetch(
        "SELECT id, at, user_name, agency, role, client, method, path, purpose, subject_ids,"
        " outcome, case_ref FROM audit_log WHERE seq IS NULL ORDER BY id"
    )
    if not rows:
        return 0
    if head["seq"] > 0:
        log.warning("audit.unchained_rows", rows=len(rows), note="the chain has begun")
        return 0
    seq, prev = 0, GENESIS
    ids, seqs, prevs, hashes = [], [], [], []
    for r in rows:
        seq += 1
        h = link(prev, seq, audit_values(r["at"], r))
        ids.append(r["id"])
        seqs.append(seq)
        prevs.append(prev)
        hashes.append(h)
        prev = h
    await conn.execute(
        "UPDATE audit_log a SET seq = x.s, prev_hash = x.p, hash = x.h FROM unnest($1::bigint[],"
        " $2::bigint[], $3::bytea[], $4::bytea[]) AS x(i, s, p, h) WHERE a.id = x.i",
        ids,
        seqs,
        prevs,
        hashes,
    )
    await conn.execute(
        "UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE chain = 'audit'", seq, prev
    )
    return len(rows)


async def _seal_archive(conn: asyncpg.Connection) -> int:
    rows = await conn.fetch(
        'SELECT source, event_id, type, agency, time, subject, topic, partition, "offset",'
        " version, data, summary FROM event_archive WHERE chain IS NULL"
        ' ORDER BY topic, partition, "offset"'
    )
    if not rows:
        return 0
    begun = {r["chain"] for r in await conn.fetch("SELECT chain FROM archive_chain_head")}
    by_chain: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        by_chain[archive_chain(r["topic"], r["partition"])].append(r)
    sealed = 0
    for name, part in sorted(by_chain.items()):
        if name in begun:
            log.warning("archive.unchained_rows", chain=name, rows=len(part))
            continue
        seq, prev = 0, GENESIS
        cols: list[list[object]] = [[], [], [], [], [], []]
        for r in part:
            seq += 1
            values = archive_values(
                name, r["offset"], r["source"], r["event_id"], r["type"], r["agency"],
                r["time"], r["subject"], r["version"], normalized(r["data"]), r["summary"],
            )  # fmt: skip
            h = link(prev, seq, values)
            for col, v in zip(cols, (r["source"], r["event_id"], seq, r["offset"], prev, h),
                              strict=True):  # fmt: skip
                col.append(v)
            prev = h
        await conn.execute(
            "UPDATE event_archive a SET chain = $1, chain_seq = x.s, chain_offset = x.o,"
            " prev_hash = x.p, hash = x.h FROM unnest($2::text[], $3::text[], $4::bigint[],"
            " $5::bigint[], $6::bytea[], $7::bytea[]) AS x(src, id, s, o, p, h)"
            " WHERE a.source = x.src AND a.event_id = x.id",
            name,
            *cols,
        )
        await conn.execute(
            "INSERT INTO archive_chain_head (chain, seq, hash) VALUES ($1, $2, $3)", name, seq, prev
        )
        sealed += len(part)
    return sealed


async def seal_unchained(dsn: str) -> tuple[int, int]:
    """Chain the rows from before the chains; returns (audit rows, archive rows) sealed."""
    pool = await create_pool(dsn, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            audit = await _seal_audit(conn)
            archive = await _seal_archive(conn)
    finally:
        await pool.close()
    if audit or archive:
        log.info("audit.sealed_unchained", audit_rows=audit, archive_rows=archive)
    return audit, archive
