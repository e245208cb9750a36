"""``civic-hub deadletter list|retry``: see what the intake rejected and why, and send records
again once a schema or code fix makes them acceptable, so nothing rejected by mistake is lost."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from hub.bootstrap import start_producer
from hub.config import Settings
from projections.intake import InboundRecord, RejectedRecord, check


async def list_rows(
    pool: asyncpg.Pool, reason: str | None, limit: int, include_retried: bool = False
) -> list[asyncpg.Record]:
    return await pool.fetch(
        'SELECT d.topic, d.partition, d."offset", d.reason, d.field, d.detail, d.event_id,'
        " length(d.value) AS bytes, r.retried_at FROM deadletter d"
        ' LEFT JOIN deadletter_retry r USING (topic, partition, "offset")'
        " WHERE ($1::text IS NULL OR d.reason = $1) AND ($3 OR r.retried_at IS NULL)"
        ' ORDER BY d.topic, d.partition, d."offset" LIMIT $2',
        reason,
        limit,
        include_retried,
    )


async def summary(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT d.reason, count(*) AS n, count(r.retried_at) AS retried FROM deadletter d"
        ' LEFT JOIN deadletter_retry r USING (topic, partition, "offset")'
        " GROUP BY d.reason ORDER BY n DESC"
    )


@dataclass
class RetryReport:
    resent: int = 0
    still_rejected: dict[str, int] = field(default_factory=dict)


async def retry(
    pool: asyncpg.Pool, settings: Settings, reason: str | None, dry_run: bool = False
) -> RetryReport:
    """Re-check every not-yet-retried dead letter with today's code and schemas; send the ones
    that now pass back to their topic (original bytes and key)."""
    rows = await pool.fetch(
        'SELECT d.topic, d.partition, d."offset", d.key, d.value FROM deadletter d'
        ' LEFT JOIN deadletter_retry r USING (topic, partition, "offset")'
        " WHERE r.retried_at IS NULL AND ($1::text IS NULL OR d.reason = $1)"
        ' ORDER BY d.topic, d.partition, d."offset"',
        reason,
    )
    report = RetryReport()
    passing = []
    for r in rows:
        rec = InboundRecord(
            r["topic"],
            r["partition"],
            r["offset"],
            bytes(r["key"]) if r["key"] is not None else None,
            bytes(r["value"]),
        )
        out = check(rec, settings.agencies)
        if isinstance(out, RejectedRecord):
            report.still_rejected[out.reason] = report.still_rejected.get(out.reason, 0) + 1
            continue
        known = await pool.fetchrow(
            "SELECT type, data FROM event_archive WHERE source = $1 AND event_id = $2", *out.env.key
        )
        if known is not None and (known["type"], known["data"]) != (
            out.env.type,
            out.env.raw["data"],
        ):
            reason = "conflicting-duplicate"  # the id is taken by other content for good
            report.still_rejected[reason] = report.still_rejected.get(reason, 0) + 1
        elif known is None:
            passing.append(rec)
    if dry_run:
        report.resent = len(passing)
        return report
    if not passing:
        return report
    producer = await start_producer(settings, "retry")
    try:
        for rec in passing:
            md = await producer.send_and_wait(rec.topic, rec.value, key=rec.key)
            # Recorded one by one after each ack: an interrupted retry resumes where it stopped.
            await pool.execute(
                'INSERT INTO deadletter_retry (topic, partition, "offset", new_partition,'
                " new_offset) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                rec.topic,
                rec.partition,
                rec.offset,
                md.partition,
                md.offset,
            )
            report.resent += 1
    finally:
        await producer.stop()
    return report
