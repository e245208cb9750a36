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
from projections.chain import digest

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
    case_ref: str | None = None  # the investigation a replay read serves (X-Case-Ref)


def stored_subjects(subject_ids: Sequence[str]) -> list[str]:
    """The subject ids as the row stores them (``string_to_array`` of the joined text)."""
    joined = chr(31).join(subject_ids)
    return joined.split(chr(31)) if joined else []


def audit_values(at: datetime, rec: AuditRecord | Mapping[str, Any]) -> list[Any]:
    """What an audit row's hash covers (:mod:`projections.chain`): all but its id and place.
    The investigation's reference is covered when the row has one (rows without keep the
    hash they had before the column existed)."""
    if isinstance(rec, AuditRecord):
        out = [at, rec.user, rec.agency, rec.role, rec.client, rec.method, rec.path,
               rec.purpose, stored_subjects(rec.subject_ids), rec.outcome]  # fmt: skip
        ref = rec.case_ref
    else:
        out = [at, rec["user_name"], rec["agency"], rec["role"], rec["client"], rec["method"],
               rec["path"], rec["purpose"], list(rec["subject_ids"]), rec["outcome"]]  # fmt: skip
        ref = rec.get("case_ref")
    return out if ref is None else [*out, ref]


# One statement, one round trip: lock the head, chain the group after it (the same link as
# projections.chain.link: sha256(prev || int8send(seq) || digest)), insert, move the head.
# Under READ COMMITTED the lock returns the head as the writer before us left it.
_APPEND = """
WITH RECURSIVE head AS (
    SELECT seq, hash FROM audit_chain_head WHERE chain = 'audit' FOR UPDATE
), x AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::text[], $10::text[], $11::bytea[], $12::text[]) WITH ORDINALITY
        AS x(u, a, r, c, m, p, pu, s, o, d, ref, n)
), c AS (
    SELECT 0::bigint AS n, seq, NULL::bytea AS prev, hash FROM head
    UNION ALL
    SELECT x.n, c.seq + 1, c.hash, sha256(c.hash || int8send(c.seq + 1) || x.d)
    FROM c JOIN x ON x.n = c.n + 1
), ins AS (
    INSERT INTO audit_log (at, user_name, agency, role, client, method, path, purpose,
        subject_ids, outcome, seq, prev_hash, hash, case_ref)
    SELECT $1, u, a, r, x.c, m, p, pu, COALESCE(string_to_array(s, chr(31)), '{}'), o,
        c.seq, c.prev, c.hash, x.ref
    FROM x JOIN c ON c.n = x.n ORDER BY x.n
)
UPDATE audit_chain_head h SET seq = t.seq, hash = t.hash
FROM (SELECT seq, hash FROM c ORDER BY n DESC LIMIT 1) t WHERE h.chain = 'audit'
"""


async def _insert(pool: asyncpg.Pool, recs: Sequence[AuditRecord]) -> None:
    """One group, chained after the head row the statement locks: API processes sharing
    the database append one group after another, each row linked to the one before."""
    at = datetime.now(UTC)
    await pool.execute(
        _APPEND,
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
        [digest(audit_values(at, x)) for x in recs],
        [x.case_ref for x in recs],
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
