"""The projector: one batch of consumed records → PostgreSQL (and rejected ones → hub.deadletter).

Shared by the faust worker and by ``civic-hub rebuild``; the batch logic itself is
:meth:`projections.store.Store.apply_batch`. Its store and producer are made by the
composition root (``hub.bootstrap.projector``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
import orjson
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from projections.coordination import watermark
from projections.coordination.due import SETTLE, sweep
from projections.coordination.notices import Notice
from projections.db import database_down
from projections.decide import Decision
from projections.intake import InboundRecord, RejectedRecord
from projections.reads.kpi_fold import fold as kpi_fold
from projections.store import BatchResult, Store
from schemas.notices import notice_event
from schemas.topics import COORDINATION_TOPIC, DEADLETTER_MAX_BYTES, DEADLETTER_TOPIC

log = structlog.get_logger("streams.project")
RESOLVE_IDLE = 0.05  # seconds between looks at an empty resolution queue
DB_RETRY_FIRST, DB_RETRY_MAX = 0.2, 5.0  # seconds between tries while the database is down
T = TypeVar("T")


async def until_database(what: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` until the database answers: while it is stopped or restarting, wait
    (one log line when it goes, one when it is back) and try again, rather than stop the
    worker. A batch tried again is applied once: its positions commit with its rows."""
    down_since: float | None = None
    delay = DB_RETRY_FIRST
    while True:
        try:
            out = await attempt()
        except Exception as exc:
            if not database_down(exc):
                raise
            if down_since is None:
                down_since = time.monotonic()
                log.warning(
                    "projector.database_unavailable",
                    during=what,
                    error=f"{type(exc).__name__}: {exc}"[:300],
                    action="waiting for the database; nothing is lost, the work resumes",
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, DB_RETRY_MAX)
            continue
        if down_since is not None:
            log.warning(  # as loud as the line that said it went
                "projector.database_back",
                during=what,
                waited_seconds=round(time.monotonic() - down_since, 1),
            )
        return out


# Failures of what the projector talks to, not of a record: the batch is not given up on.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    # the store applies a deadlocked batch again; one that stays deadlocked is not a record's
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    KafkaError,
)


def deadletter_headers(r: RejectedRecord) -> list[tuple[str, bytes]]:
    """The reason travels in headers so the value stays the original bytes, untouched."""
    h = [
        ("hub.reason", r.reason.encode()),
        ("hub.detail", r.detail.encode()),
        ("hub.origin.topic", r.record.topic.encode()),
        ("hub.origin.partition", str(r.record.partition).encode()),
        ("hub.origin.offset", str(r.record.offset).encode()),
    ]
    if r.field:
        h.append(("hub.field", r.field.encode()))
    if r.event_id:
        h.append(("hub.event_id", r.event_id.encode()))
    return h


class Projector:
    def __init__(self, store: Store, producer: AIOKafkaProducer, resolution_topic: str) -> None:
        self.store = store
        self.producer = producer
        self.resolution_topic = resolution_topic
        self.totals = BatchResult()
        self._last_report = time.monotonic()

    async def close(self) -> None:
        await self.producer.stop()
        await self.store.pool.close()

    async def send_deadletters(self, rejected: Sequence[RejectedRecord]) -> None:
        futures = []
        for r in rejected:
            structlog.get_logger().warning(
                "intake.rejected",
                event_id=r.event_id,
                reason=r.reason,
                detail=r.detail,
                topic=r.record.topic,
                partition=r.record.partition,
                offset=r.record.offset,
            )
            value, headers = r.record.value or b"", deadletter_headers(r)
            if len(value) > DEADLETTER_MAX_BYTES:
                # Larger than any topic takes: keep the head, say so; the whole record stays
                # in its agency topic at the origin offset named in the headers.
                headers.append(("hub.truncated_from", str(len(value)).encode()))
                value = value[:DEADLETTER_MAX_BYTES]
            futures.append(
                await self.producer.send(
                    DEADLETTER_TOPIC, value=value, key=r.record.key, headers=headers
                )
            )
        for f in futures:  # acks=all: durable in the log before the positions move
            await f

    async def send_decisions(self, decisions: Sequence[Decision]) -> list[tuple[str, int, int]]:
        """Resolution decisions go to the log first; the read model applies them when it reads
        them back, so a rebuild replays them instead of deciding again. Answers where they
        landed."""
        futures = []
        for d in decisions:
            log.info(
                "resolution.decided",
                decision_id=d.id,
                action=d.action,
                a=d.a,
                b=d.b,
                score=round(d.score, 3),
            )
            futures.append(
                await self.producer.send(
                    self.resolution_topic, value=orjson.dumps(d.event()), key=d.a.encode()
                )
            )
        landed = []
        for f in futures:  # where each landed: the store keeps it (resolution_sent)
            md = await f
            landed.append((md.topic, md.partition, md.offset))
        return landed

    async def send_notices(self, notices: Sequence[Notice]) -> None:
        """The hub's notices to ``hub.coordination`` (CONTRACT.md section 7), keyed by the
        thread; every ack is in before the sweep commits their claims."""
        futures = []
        for n in notices:
            log.info("coordination.notice", notice_id=n.id, type=n.type, case_id=n.case_id)
            event = notice_event(n.id, n.type, n.case_id, n.due.isoformat(), n.data)
            futures.append(
                await self.producer.send(
                    COORDINATION_TOPIC, value=orjson.dumps(event), key=n.case_id.encode()
                )
            )
        for f in futures:
            await f

    async def sweep(self) -> int:
        """Raise the notices that fell due (and, at start, those due while the hub was down):
        by the wall clock, or by the event-time watermark (``HUB_SWEEP_CLOCK=watermark``)."""
        if self.store.rules is None:
            return 0
        now, settle = None, SETTLE  # the wall clock: a thread touched just now waits
        if self.store.watermark:
            mark = await watermark.advance(
                self.store.pool, self.store.consumer, self.store.watermark
            )
            if mark is None:
                return 0  # not every partition has applied an event yet
            now, settle = watermark.sweep_instant(mark), None
        return len(
            await sweep(self.store.pool, self.store.rules, self.send_notices, now, settle=settle)
        )

    async def fold_kpi(self) -> int | None:
        """Fold the archive rows written since the last fold into the KPI summary."""
        if self.store.rules is None:
            return 0
        return await kpi_fold(self.store.pool, self.store.rules)

    async def resolve_forever(self) -> None:
        """Beside the batches: decide the persons of the records batches queued, as fast as
        they come (idle, a look every :data:`RESOLVE_IDLE` seconds). A database stopped or
        restarting is waited out; a lost broker ends it (the worker restarts); a record the
        matcher cannot process is taken off the queue with an error line, so one record
        cannot stop resolution."""
        while True:
            try:
                n = await until_database(
                    "resolution", lambda: self.store.resolve_pending(self.send_decisions)
                )
            except TRANSIENT:
                raise
            except Exception as exc:
                log.warning("resolver.round_failed", error=f"{type(exc).__name__}: {exc}"[:300])
                n = await self._resolve_one_by_one()
            if n == 0:
                await asyncio.sleep(RESOLVE_IDLE)

    async def _resolve_one_by_one(self) -> int:
        """After a failed round: the oldest queued records one at a time; the one that fails
        again is given up on (logged with its error), so the rest go on."""
        try:
            return await until_database(
                "resolution", lambda: self.store.resolve_pending(self.send_decisions, limit=1)
            )
        except TRANSIENT:
            raise
        except Exception as exc:
            dropped = await self.store.drop_oldest_pending()
            log.error(
                "resolver.gave_up", record=dropped, error=f"{type(exc).__name__}: {exc}"[:300]
            )
            return 1

    async def apply(self, events: Sequence[Any]) -> BatchResult:
        """Apply faust events (anything with ``.message`` carrying topic/partition/offset)."""
        records = [
            InboundRecord(
                e.message.topic,
                e.message.partition,
                e.message.offset,
                e.message.key,
                e.message.value,
                None if e.message.timestamp is None else round(e.message.timestamp * 1000),
            )
            for e in events
        ]
        return await self.apply_records(records)

    async def apply_records(self, records: Sequence[InboundRecord]) -> BatchResult:
        try:
            res = await self._apply(records)
        except TRANSIENT:
            raise  # a lost database or broker: the worker stops, restarts, replays the batch
        except Exception as exc:
            # Something in this batch the code cannot process. Try once more (it may have
            # been a passing fault), then find the record(s) by halves and give up on them:
            # each goes to the dead letters with the error, and the partition moves on.
            log.warning(
                "projector.batch_failed",
                records=len(records),
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
            try:
                res = await self._apply(records)
            except TRANSIENT:
                raise
            except Exception:
                res = await self._isolate(list(records))
        t = self.totals
        t.records += res.records
        t.skipped += res.skipped
        t.accepted += res.accepted
        t.duplicates += res.duplicates
        t.rejected += res.rejected
        now = time.monotonic()
        if now - self._last_report >= 10:
            self._last_report = now
            log.info(
                "projector.progress",
                records=t.records,
                accepted=t.accepted,
                rejected=t.rejected,
                duplicates=t.duplicates,
                skipped=t.skipped,
            )
        return res

    async def _apply(
        self,
        records: Sequence[InboundRecord],
        unprocessable: dict[tuple[str, int, int], str] | None = None,
    ) -> BatchResult:
        return await until_database(
            "batch",
            lambda: self.store.apply_batch(
                records, self.send_deadletters, self.send_decisions, unprocessable
            ),
        )

    async def _isolate(self, records: list[InboundRecord]) -> BatchResult:
        """Apply ``records`` in halves, down to the single records that fail; those are
        dead-lettered as ``unprocessable``. Partition order is kept: halves go in order."""
        try:
            return await self._apply(records)
        except TRANSIENT:
            raise
        except Exception as exc:
            if len(records) == 1:
                r = records[0]
                why = f"the hub could not process this record: {type(exc).__name__}: {exc}"
                log.error(
                    "projector.unprocessable",
                    topic=r.topic,
                    partition=r.partition,
                    offset=r.offset,
                    error=why[:300],
                )
                return await self._apply(records, {(r.topic, r.partition, r.offset): why[:500]})
        mid = len(records) // 2
        first, second = await self._isolate(records[:mid]), await self._isolate(records[mid:])
        return BatchResult(
            records=first.records + second.records,
            skipped=first.skipped + second.skipped,
            accepted=first.accepted + second.accepted,
            duplicates=first.duplicates + second.duplicates,
            rejected=first.rejected + second.rejected,
            decisions=first.decisions + second.decisions,
        )
