"""The audit log: every read, allowed or not, is written before the answer leaves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg


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


async def write(pool: asyncpg.Pool, rec: AuditRecord) -> None:
    """Durable on return (synchronous commit): the caller answers only after this."""
    await pool.execute(
        "INSERT INTO audit_log (user_name, agency, role, client, method, path, purpose,"
        " subject_ids, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        rec.user, rec.agency, rec.role, rec.client, rec.method, rec.path, rec.purpose,
        list(rec.subject_ids), rec.outcome,
    )
