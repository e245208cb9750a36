"""The sweep's clock as an event-time watermark (``HUB_SWEEP_CLOCK=watermark``), for
benchmarks and tests that publish a simulated city in order of its own time; the hub sweeps
at the wall clock otherwise.

Each batch notes, per inbound partition, the latest event time it applied, and the referral
decisions it sent (:func:`note_batch`, in the batch's transaction); :func:`advance` moves
the watermark to the minimum over every inbound partition, but not past the time of a
referral decision sent and not yet read back and applied (a referral joins a 110 call and
the city case opened after it, or splits them: no notice due before the case's opening
changes, and a notice's thread must be whole before its clock is read; person decisions
join persons, not threads, so they are not waited for), and never backwards. With each
partition carrying its events in order of time, every event before the watermark is
applied, so a sweep may raise what fell due strictly before it (:func:`sweep_instant`).
Kept in PostgreSQL: it survives a SIGKILL and every worker sweeps by the same one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from projections.decide import Decision
from projections.project import Accepted
from schemas.topics import COORDINATION_TOPIC

ONE_AT_A_TIME = 7_317_002  # the advisory lock one advance at a time holds
_NOTE = (
    "INSERT INTO sweep_partition_time AS s (consumer, topic, partition, latest)"
    " SELECT $1, * FROM unnest($2::text[], $3::int[], $4::timestamptz[]) ORDER BY 1, 2"
    " ON CONFLICT (consumer, topic, partition)"
    " DO UPDATE SET latest = greatest(s.latest, excluded.latest)"
)
_REFERRALS = (
    "INSERT INTO sweep_referral_sent (consumer, decision_id, at)"
    " SELECT $1, * FROM unnest($2::text[], $3::timestamptz[]) ORDER BY 1"
    " ON CONFLICT DO NOTHING"
)
# One statement, one snapshot: the partitions' times and the referrals in flight as of the
# same commits (a batch writes its positions, its times and what it sent together; the
# batch that reads a decision back records it in resolution_decision). Referrals applied
# are taken off the list as it goes.
_ADVANCE = (
    "WITH parts AS (SELECT count(*) AS n, min(latest) AS w FROM sweep_partition_time"
    "  WHERE consumer = $1),"
    " sent AS (SELECT s.decision_id, s.at, d.decision_id IS NOT NULL AS applied"
    "  FROM sweep_referral_sent s LEFT JOIN resolution_decision d USING (decision_id)"
    "  WHERE s.consumer = $1),"
    " gone AS (DELETE FROM sweep_referral_sent s USING sent WHERE s.consumer = $1"
    "  AND s.decision_id = sent.decision_id AND sent.applied),"
    " hold AS (SELECT min(at) AS at FROM sent WHERE NOT applied),"
    " up AS (INSERT INTO sweep_watermark AS m (consumer, at) SELECT $1, least(parts.w, hold.at)"
    "  FROM parts, hold WHERE parts.n >= $2 AND parts.w IS NOT NULL"
    "  ON CONFLICT (consumer) DO UPDATE SET at = greatest(m.at, excluded.at) RETURNING at)"
    " SELECT coalesce((SELECT at FROM up), (SELECT at FROM sweep_watermark WHERE consumer = $1))"
)


async def note_batch(
    conn: asyncpg.Connection,
    consumer: str,
    accepted: Sequence[Accepted],
    sent: Sequence[Decision] = (),
) -> None:
    """The latest event time of each inbound partition in the batch (not the hub's own
    notices read back), and the referral decisions it sent to the log."""
    referrals = {d.id: d.time for d in sent if d.graph == "case"}
    if referrals:
        await conn.execute(_REFERRALS, consumer, list(referrals), list(referrals.values()))
    latest: dict[tuple[str, int], datetime] = {}
    for a in accepted:
        if a.topic != COORDINATION_TOPIC:
            k = (a.topic, a.partition)
            latest[k] = max(latest.get(k, a.env.time), a.env.time)
    if latest:
        await conn.execute(
            _NOTE, consumer, [k[0] for k in latest], [k[1] for k in latest], list(latest.values())
        )


async def advance(pool: asyncpg.Pool, consumer: str, partitions: int) -> datetime | None:
    """Move the watermark as far as it may go; answers it (None until each of the
    ``partitions`` inbound partitions has applied an event)."""
    async with pool.acquire() as conn, conn.transaction():
        # two workers' advances would take the same referral rows in different orders
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ONE_AT_A_TIME)
        return await conn.fetchval(_ADVANCE, consumer, partitions)


def sweep_instant(watermark: datetime) -> datetime:
    """The ``now`` a sweep runs at under the watermark: what fell due strictly before it
    (an event at the watermark's very instant may not be applied yet; the truth counts a
    notice due at the instant its stage is done as not due)."""
    return watermark - timedelta(microseconds=1)
