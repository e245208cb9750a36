"""The PostgreSQL side of the read model: pool, migrations, and the batch apply.

:meth:`Store.apply_batch` is the one place effects happen. In one transaction it locks the
consumer's positions for the batch's partitions, skips records at or below them (a replay
after a crash), archives the new events (the archive's primary key is the contract's
``(source, id)`` dedupe), runs the pure projection, writes its rows with multi-row
upserts, records rejected records, and moves the positions. Commit or nothing: a crash at
any point leaves the read model as if the batch had never been seen.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import structlog

from projections.archive_chain import ChainRace
from projections.changes import Changes
from projections.coordination.due import refresh_due
from projections.coordination.rules import Rules, load_rules
from projections.coordination.watermark import note_batch
from projections.db import ANALYZED, POSITIONS_CHANNEL, Positions, positions_payload, read_positions
from projections.decide import Decision, parse_decision
from projections.decisions import (
    apply_decisions,
    decide_and_apply,
    decide_persons_of_batch,
    touched_by_batch,
)
from projections.intake import InboundRecord, RejectedRecord, split
from projections.matching import DEFAULT, Model
from projections.project import links_needed, project
from projections.referrals import decide_referrals
from projections.rows import archive, read_links, record_rejected, rethread, write_changes
from schemas.topics import is_resolution_topic

log = structlog.get_logger("projections.store")

ANALYZE_FIRST = 2000
DEADLOCK_RETRIES = 5
RESOLVE_LIMIT = 200  # records the resolver decides in one transaction
RESOLVER = 7_317_001  # the advisory lock one resolver at a time holds
# Sends decisions to the log; may answer where they landed (topic, partition, offset), which
# is kept with the batch (resolution_sent) so "caught up" can include reading them back.
DecisionSink = Callable[[Sequence[Decision]], Awaitable[Sequence[tuple[str, int, int]] | None]]
DeadletterSink = Callable[[Sequence[RejectedRecord]], Awaitable[None]]


T = TypeVar("T")
# Aborted by PostgreSQL (two workers writing the same rows in different orders), or by the
# archive chain's head moving under us: the transaction rolled back whole, so it is run again.
RETRIED = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError, ChainRace)


def _batch_known_at(records: Sequence[InboundRecord]) -> datetime | None:
    """When the hub took a batch in, for the versions it writes (as-of reads): its latest
    log time (an as-of read at an instant shows a batch whole or not at all), to the end of
    its millisecond: the log keeps milliseconds, and an instant within that millisecond may
    be before the record arrived."""
    stamps = [r.timestamp for r in records if r.timestamp is not None]
    if not stamps:
        return None
    return datetime.fromtimestamp(max(stamps) / 1000, UTC) + timedelta(microseconds=999)


async def known_at(conn: asyncpg.Connection, at: datetime | None) -> None:
    """Stamp the versions this transaction writes (migration 052): ``at``, but never later
    than the database's clock (a producer's clock ahead, or a forged record time, cannot
    date rows in the future); without ``at``, the database's clock."""
    if at is not None:
        await conn.execute(
            "SELECT set_config('hub.known_at', least($1::timestamptz, now())::text, true)", at
        )


async def _retried(attempt_once: Callable[[], Awaitable[T]], event: str, **fields: Any) -> T:
    for attempt in range(1, DEADLOCK_RETRIES + 1):
        try:
            return await attempt_once()
        except RETRIED as exc:
            if attempt == DEADLOCK_RETRIES:
                raise
            log.warning(event, attempt=attempt, error=type(exc).__name__, **fields)
            await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)
    raise AssertionError("unreachable")


@dataclass
class BatchResult:
    records: int = 0
    skipped: int = 0  # at or below the stored position: already applied before a restart
    accepted: int = 0
    duplicates: int = 0  # same (source, id) as an event already in the archive
    rejected: int = 0
    decisions: int = 0
    positions: dict[tuple[str, int], int] = field(default_factory=dict)


def _case_nodes(records: Sequence[InboundRecord]) -> list[str]:
    """The case nodes that case-graph decisions (referrals) in ``records`` join or split."""
    out: set[str] = set()
    for r in records:
        try:
            d = parse_decision(r.value or b"")
        except (ValueError, KeyError, TypeError):
            continue  # dead-lettered by apply_decisions
        if d.graph == "case":
            out |= {d.a, d.b}
    return sorted(out)


class Store:
    def __init__(
        self,
        pool: asyncpg.Pool,
        consumer: str,
        agencies: tuple[str, ...],
        model: Model = DEFAULT,
        defer_resolution: bool = False,
        rules: Rules | None = None,
        watermark: int = 0,
    ):
        self.pool = pool
        # HUB_SWEEP_CLOCK=watermark: the inbound partitions the watermark spans (0: none)
        self.watermark = watermark
        # the coordination rules: with them (the live workers) each batch keeps the next due
        # instant of the threads it touched (projections.coordination.due); a rebuild has none
        self.rules = rules
        # 110 categories the rules divert to the city, and the city category each becomes:
        # such a call joins the city case of that category opened at its address soon
        # after, as a referral does (the shipped rules when none
        # are given, so deciding never depends on whether a clock runs)
        self.diverted = {
            d.incident_category: d.category
            for d in (rules or load_rules()).diversions.values()
            if d.to_agency == "city"
        }
        # live workers: a batch queues the records it touched (pending_resolution) and
        # commits; :meth:`resolve_pending` decides them beside the batches
        self.defer_resolution = defer_resolution
        self.model = model  # who is who: the Fellegi–Sunter weights the resolver decides by
        self.consumer = consumer
        self.agencies = agencies
        self.applied = 0
        self.analyze_at = ANALYZE_FIRST
        self._analyzing: asyncio.Task[None] | None = None

    async def positions(self) -> Positions:
        return await read_positions(self.pool, self.consumer)

    async def apply_batch(
        self,
        records: Sequence[InboundRecord],
        deadletter: DeadletterSink | None = None,
        decisions: DecisionSink | None = None,
        unprocessable: dict[tuple[str, int, int], str] | None = None,
    ) -> BatchResult:
        """Apply one batch in one transaction. ``decisions``, when given (the live workers),
        receives the resolution decisions this batch calls for, to write them to the log
        before the commit; without it (a rebuild) nothing is decided, only replayed.
        ``unprocessable`` names records (topic, partition, offset → why) the projector gave
        up on: they are dead-lettered and passed, as any rejected record.

        Workers sharing the partitions write some of the same rows (edges, places) in
        different orders; PostgreSQL then aborts one transaction as a deadlock. The batch
        is rolled back whole, so it is simply applied again (what it sent to the log on the
        way is sent again: decisions are keyed by id, dead letters by origin)."""
        return await _retried(
            lambda: self._apply_batch_once(records, deadletter, decisions, unprocessable),
            "store.batch_retried",
            records=len(records),
        )

    async def _apply_batch_once(
        self,
        records: Sequence[InboundRecord],
        deadletter: DeadletterSink | None,
        decisions: DecisionSink | None,
        unprocessable: dict[tuple[str, int, int], str] | None = None,
    ) -> BatchResult:
        result = BatchResult(records=len(records))
        if not records:
            return result
        tps = sorted({(r.topic, r.partition) for r in records})
        async with self.pool.acquire() as conn, conn.transaction():
            await known_at(conn, _batch_known_at(records))
            await conn.execute(
                "INSERT INTO stream_position (consumer, topic, partition, next_offset)"
                " SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) AS x(t, p)"
                " ON CONFLICT DO NOTHING",
                self.consumer,
                [t for t, _ in tps],
                [p for _, p in tps],
            )
            rows = await conn.fetch(
                "SELECT topic, partition, next_offset FROM stream_position"
                " WHERE consumer = $1 AND (topic, partition) IN"
                " (SELECT * FROM unnest($2::text[], $3::int[]))"
                " ORDER BY topic, partition FOR UPDATE",
                self.consumer,
                [t for t, _ in tps],
                [p for _, p in tps],
            )
            stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
            fresh = [r for r in records if r.offset >= stored[(r.topic, r.partition)]]
            result.skipped = len(records) - len(fresh)
            work = fresh
            gave_up: list[RejectedRecord] = []
            if unprocessable:
                work = [r for r in fresh if (r.topic, r.partition, r.offset) not in unprocessable]
                gave_up = [
                    RejectedRecord(
                        r,
                        "unprocessable",
                        unprocessable[(r.topic, r.partition, r.offset)],
                        None,
                        None,
                    )
                    for r in fresh
                    if (r.topic, r.partition, r.offset) in unprocessable
                ]
            decision_records = [r for r in work if is_resolution_topic(r.topic)]
            if decision_records:
                fresh_inbound = [r for r in work if not is_resolution_topic(r.topic)]
            else:
                fresh_inbound = work
            accepted, rejected = split(fresh_inbound, self.agencies)
            rejected += gave_up
            bad, by_people = await apply_decisions(conn, decision_records)
            joined = _case_nodes(decision_records)
            if joined:  # a referral decision joins (or splits) threads: their ids follow
                await rethread(conn, joined)
            rejected += bad
            new, conflicts = await archive(conn, accepted)
            if conflicts:
                by_pos = {(r.topic, r.partition, r.offset): r for r in fresh}
                rejected += [
                    RejectedRecord(
                        by_pos[(c.record.topic, c.record.partition, c.record.offset)],
                        c.reason,
                        c.detail,
                        c.field,
                        c.event_id,
                    )
                    for c in conflicts
                ]
            result.accepted = len(new)
            result.duplicates = len(accepted) - len(new) - len(conflicts)
            changes = Changes()
            if new:
                known = await read_links(conn, links_needed(new))
                changes = project(new, known)
                await write_changes(conn, changes)
            if self.rules is not None and (new or joined):
                await refresh_due(conn, changes, self.rules, joined)
            made: list[Decision] = []
            if decisions is not None and (new or by_people):
                # a person's confirmation or rejection reshapes its region too
                made = await self._decide(conn, changes, by_people)
                if made:
                    await self._sent(conn, await decisions(made))
                    result.decisions = len(made)
            if self.watermark:  # what the event-time watermark goes by (and waits for)
                await note_batch(conn, self.consumer, accepted, made)
            if rejected:
                if deadletter is not None:
                    await deadletter(rejected)
                await record_rejected(conn, rejected)
            result.rejected = len(rejected)
            nxt = dict(stored)
            for r in fresh:
                nxt[(r.topic, r.partition)] = max(nxt[(r.topic, r.partition)], r.offset + 1)
            moved = [(k, v) for k, v in nxt.items() if v != stored[k]]
            if moved:
                await conn.execute(
                    "UPDATE stream_position s SET next_offset = x.o"
                    " FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o)"
                    " WHERE s.consumer = $1 AND s.topic = x.t AND s.partition = x.p",
                    self.consumer,
                    [k[0] for k, _ in moved],
                    [k[1] for k, _ in moved],
                    [v for _, v in moved],
                )
                # Delivered at commit, never before: a waiting read (min_offset) wakes
                # exactly when these rows are visible.
                await conn.execute(
                    "SELECT pg_notify($1, json_build_object('s', current_schema(),"
                    " 'c', $2::text, 'p', $3::text::json)::text)",
                    POSITIONS_CHANNEL,
                    self.consumer,
                    positions_payload(moved),
                )
            result.positions = nxt
        self.applied += result.accepted
        if self.applied >= self.analyze_at and (self._analyzing is None or self._analyzing.done()):
            self.analyze_at = max(self.analyze_at * 2, self.applied + ANALYZE_FIRST)
            self._analyzing = asyncio.create_task(self.analyze())
        return result

    async def _sent(
        self, conn: asyncpg.Connection, landed: Sequence[tuple[str, int, int]] | None
    ) -> None:
        if not landed:
            return
        top: dict[tuple[str, int], int] = {}
        for topic, partition, offset in landed:
            top[(topic, partition)] = max(top.get((topic, partition), -1), offset)
        await conn.execute(
            "INSERT INTO resolution_sent AS s (consumer, topic, partition, next_offset)"
            " SELECT $1, t, p, o + 1 FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o)"
            " ORDER BY 2, 3 ON CONFLICT (consumer, topic, partition) DO UPDATE"
            " SET next_offset = greatest(s.next_offset, excluded.next_offset)",
            self.consumer,
            [k[0] for k in top],
            [k[1] for k in top],
            list(top.values()),
        )

    async def drop_oldest_pending(self) -> str | None:
        """Take the oldest queued record off the resolution queue undecided (one the matcher
        failed on twice); returns it."""
        return await self.pool.fetchval(
            "DELETE FROM pending_resolution WHERE seq = (SELECT seq FROM pending_resolution"
            " ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING record"
        )

    async def analyze(self) -> None:
        """Fresh planner statistics while the read model grows fast: at 2k, 4k, 8k, …
        events applied by this process. Autovacuum's thresholds lag a bulk load, and a plan
        made on stale counts can be 100× off (a referral probe joined all city cases on a
        100k-event model: 36 ms a batch instead of under 1 ms). In the background, on its
        own connection, with a small sample: batches do not wait for it."""
        t0 = time.perf_counter()
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute("SET LOCAL default_statistics_target = 20")
                await conn.execute("ANALYZE " + ", ".join(ANALYZED))
        except (OSError, asyncpg.PostgresError) as exc:  # statistics are an optimisation
            log.warning("store.analyze_failed", error=str(exc))
            return
        log.info(
            "store.analyzed",
            applied=self.applied,
            ms=round((time.perf_counter() - t0) * 1000, 1),
            next_at=self.analyze_at,
        )

    async def _decide(
        self, conn: asyncpg.Connection, ch: Changes, by_people: list[Decision]
    ) -> list[Decision]:
        if not self.defer_resolution:
            return await decide_persons_of_batch(
                conn, ch, by_people, self.model
            ) + await decide_referrals(conn, ch, self.diverted)
        touched, _ = await touched_by_batch(conn, ch, by_people)
        if touched:
            await conn.execute(
                "INSERT INTO pending_resolution (record) SELECT unnest($1::text[])", sorted(touched)
            )
        return await decide_referrals(conn, ch, self.diverted)

    async def resolve_pending(self, decisions: DecisionSink, limit: int = RESOLVE_LIMIT) -> int:
        """Decide the persons of up to ``limit`` queued records (oldest first; one worker's
        resolver at a time), send the decisions to the log, apply them, and take the rows
        off the queue, all in one transaction: a crash leaves them queued. Returns how many
        rows were taken (0: nothing waits)."""
        return await _retried(lambda: self._resolve_once(decisions, limit), "store.resolve_retried")

    async def _resolve_once(self, decisions: DecisionSink, limit: int) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            # One resolver at a time per database: two would decide over the same
            # regions and queue on each other's rows (the other worker's resolver
            # answers 0 and looks again soon).
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RESOLVER):
                return 0
            rows = await conn.fetch(
                "SELECT seq, record FROM pending_resolution ORDER BY seq LIMIT $1"
                " FOR UPDATE SKIP LOCKED",
                limit,
            )
            if not rows:
                return 0
            now = datetime.now(UTC)  # to the microsecond: the latest word is by time
            await known_at(conn, now)
            made = await decide_and_apply(conn, {r[1] for r in rows}, now, self.model)
            if made:
                await self._sent(conn, await decisions(made))
            await conn.execute(
                "DELETE FROM pending_resolution WHERE seq = ANY($1::bigint[])", [r[0] for r in rows]
            )
            return len(rows)
