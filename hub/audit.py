"""The audit log: every read, allowed or not, is written before the answer leaves.

Writes are group-committed: the records of concurrent requests go to PostgreSQL in one
multi-row INSERT and one (synchronous, durable) commit, and each request waits for the
commit that holds its own record before it answers. One fsync then serves many reads.

Rows are hash-chained (:mod:`projections.chain`): each group takes the chain's head row
``FOR UPDATE`` in its transaction, so writers in several API processes append in turn and
every row links to the one committed before it. ``civic-hub audit verify`` walks the chain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from hub.background import BackgroundLoop
from projections.chain import link

log = structlog.get_logger("hub.audit")
MAX_GROUP = 512


@dataclass(frozen=True, slots=True)
class AuditRecord:
    user: str
    agency: str
    role: str
    client: str | None
    method: str
    path: str
    purpose: str | None
    subject_ids: Sequence[str]
    outcome: str


def stored_subjects(subject_ids: Sequence[str]) -> list[str]:
    """The subject ids as the row stores them (``string_to_array`` of the joined text)."""
    joined = chr(31).join(subject_ids)
    return joined.split(chr(31)) if joined else []


def audit_values(seq: int, at: datetime, rec: AuditRecord | Mapping[str, Any]) -> list[Any]:
    """What an audit row's hash covers (:mod:`projections.chain`): everything but its id."""
    if isinstance(rec, AuditRecord):
        return [seq, at, rec.user, rec.agency, rec.role, rec.client, rec.method, rec.path,
                rec.purpose, stored_subjects(rec.subject_ids), rec.outcome]  # fmt: skip
    return [seq, at, rec["user_name"], rec["agency"], rec["role"], rec["client"],
            rec["method"], rec["path"], rec["purpose"], list(rec["subject_ids"]),
            rec["outcome"]]  # fmt: skip


async def _insert(pool: asyncpg.Pool, recs: Sequence[AuditRecord]) -> None:
    """One group in one transaction, chained after the head row it locks: API processes
    sharing the database append one group after another, each row linked to the last."""
    at = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        head = await conn.fetchrow(
            "SELECT seq, hash FROM audit_chain_head WHERE chain = 'audit' FOR UPDATE"
        )
        seq, prev = head["seq"], bytes(head["hash"])
        seqs, prevs, hashes = [], [], []
        for rec in recs:
            seq += 1
            h = link(prev, audit_values(seq, at, rec))
            seqs.append(seq)
            prevs.append(prev)
            hashes.append(h)
            prev = h
        await conn.execute(
            "WITH x AS (INSERT INTO audit_log (at, user_name, agency, role, client, method,"
            " path, purpose, subject_ids, outcome, seq, prev_hash, hash)"
            " SELECT $1, u, a, r, c, m, p, pu, COALESCE(string_to_array(s, chr(31)), '{}'), o,"
            " q, ph, h FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
            " $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bytea[],"
            " $13::bytea[]) AS x(u, a, r, c, m, p, pu, s, o, q, ph, h))"
            " UPDATE audit_chain_head SET seq = $14, hash = $15 WHERE chain = 'audit'",
            at,
            [x.user for x in recs],
            [x.agency for x in recs],
            [x.role for x in recs],
            [x.client for x in recs],
            [x.method for x in recs],
            [x.path for x in recs],
            [x.purpose for x in recs],
            [chr(31).join(x.subject_ids) or None for x in recs],
            [x.outcome for x in recs],
            seqs,
            prevs,
            hashes,
            seq,
            prev,
        )


class AuditWriter(BackgroundLoop):
    """Group commit for audit records; :meth:`write` returns once its record is durable."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.queue: asyncio.Queue[tuple[AuditRecord, asyncio.Future[None]]] = asyncio.Queue()

    async def write(self, rec: AuditRecord) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.queue.put((rec, fut))
        await fut  # raises if the group's commit failed: then the answer never goes out

    async def _run(self) -> None:
        while True:
            group = [await self.queue.get()]
            while len(group) < MAX_GROUP and not self.queue.empty():
                group.append(self.queue.get_nowait())
            try:
                await _insert(self.pool, [r for r, _ in group])
            except Exception as exc:  # every waiting request fails loudly, none answers
                log.exception("audit.write_failed", records=len(group))
                for _, fut in group:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for _, fut in group:
                if not fut.done():
                    fut.set_result(None)
