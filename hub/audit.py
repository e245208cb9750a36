"""The audit log: every read, allowed or not, is written before the answer leaves.

Writes are group-committed: the records of concurrent requests go to PostgreSQL in one
multi-row INSERT and one (synchronous, durable) commit, and each request waits for the
commit that holds its own record before it answers. One fsync then serves many reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import structlog

from hub.background import BackgroundLoop

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


async def _insert(conn: asyncpg.Pool | asyncpg.Connection, recs: Sequence[AuditRecord]) -> None:
    await conn.execute(
        "INSERT INTO audit_log (user_name, agency, role, client, method, path, purpose,"
        " subject_ids, outcome) SELECT u, a, r, c, m, p, pu,"
        " COALESCE(string_to_array(s, chr(31)), '{}'), o"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
        " $7::text[], $8::text[], $9::text[]) AS x(u, a, r, c, m, p, pu, s, o)",
        [x.user for x in recs],
        [x.agency for x in recs],
        [x.role for x in recs],
        [x.client for x in recs],
        [x.method for x in recs],
        [x.path for x in recs],
        [x.purpose for x in recs],
        [chr(31).join(x.subject_ids) or None for x in recs],
        [x.outcome for x in recs],
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
