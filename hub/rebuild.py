"""``civic-hub rebuild [--verify]``: the read model rebuilt from the log into a fresh schema by
the same projection code, and (with ``--verify``) compared with the live one table by table.

The rebuild reads the agency topics with plain aiokafka (manual assignment from offset 0,
no consumer group) and applies batches through :meth:`Store.apply_batch`, exactly as the
live workers do. It stops at the live model's positions, so both have seen the same log.
To compare at one instant, ``--verify`` briefly blocks the live projector (``LOCK TABLE
stream_position IN SHARE MODE``: a projector transaction waits at its first statement,
holding nothing), reads the final positions, catches the rebuild up to them, compares, and
releases the lock.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.bootstrap import kafka_auth, new_pool
from hub.config import Settings
from projections.db import REBUILT_TABLES, Positions, migrate, read_positions
from projections.intake import InboundRecord
from projections.store import Store

log = structlog.get_logger("hub.rebuild")

REBUILD_CONSUMER = "hub.internal.rebuild"


@dataclass
class RebuildReport:
    schema: str
    events: int = 0
    seconds: float = 0.0
    differences: dict[str, tuple[int, int]] = field(default_factory=dict)  # table → (-, +)

    @property
    def equal(self) -> bool:
        return not self.differences


class Rebuilder:
    def __init__(
        self,
        settings: Settings,
        schema: str,
        progress: Callable[[int], None] | None = None,
        batch_records: int = 50_000,
    ) -> None:
        if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", schema) or schema == "public":
            raise ValueError(f"rebuild schema must be a fresh plain name, not {schema!r}")
        self.settings = settings
        self.schema = schema
        self.progress = progress
        self.batch_records = batch_records
        self.events = 0
        self.consumer: AIOKafkaConsumer | None = None
        self.store: Store | None = None
        self.done: Positions = {}
        self.deferred: list[str] = []

    async def start(self) -> None:
        dsn = self.settings.require_database()
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            await conn.close()
        await migrate(dsn, self.schema)
        conn = await asyncpg.connect(dsn)
        try:
            self.deferred = await defer_indexes(conn, self.schema)
        finally:
            await conn.close()
        pool = await new_pool(self.settings, "rebuild", schema=self.schema, dsn=dsn)
        self.store = Store(pool, REBUILD_CONSUMER, self.settings.agencies)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.require_kafka(),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            group_id=None,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024,
            **kafka_auth(self.settings),
        )
        await self.consumer.start()

    async def build_indexes(self) -> None:
        """Create the lookup indexes :func:`defer_indexes` left out (once, after the bulk)."""
        assert self.store is not None
        async with self.store.pool.acquire() as conn:
            for ddl in self.deferred:
                await conn.execute(ddl)
        self.deferred = []

    async def close(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
        if self.store is not None:
            await self.store.pool.close()

    async def run_until(self, until: Positions) -> None:
        """Apply every record below ``until`` (per partition), in log order per partition."""
        assert self.consumer is not None and self.store is not None
        todo = {tp: end for tp, end in until.items() if end > self.done.get(tp, 0)}
        # `until` holds every partition the live consumer applied: agency topics and the
        # hub's resolution decisions alike.
        if not todo:
            return
        tps = [TopicPartition(t, p) for (t, p) in sorted(todo)]
        self.consumer.assign(tps)
        for tp in tps:  # no await between assign and seek: the embedded broker's
            # wrong end offsets can reset a partition in between and skip most of it
            self.consumer.seek(tp, self.done.get((tp.topic, tp.partition), 0))
        records: list[InboundRecord] = []
        while todo:
            batch = await self.consumer.getmany(timeout_ms=1000, max_records=5000)
            for tp, msgs in batch.items():
                end = todo.get((tp.topic, tp.partition))
                if end is None:
                    continue
                for m in msgs:
                    if m.offset < end:
                        records.append(
                            InboundRecord(
                                tp.topic, tp.partition, m.offset, m.key, m.value, m.timestamp
                            )
                        )
                last = msgs[-1].offset + 1 if msgs else 0
                self.done[(tp.topic, tp.partition)] = min(
                    max(last, self.done.get((tp.topic, tp.partition), 0)), end
                )
                if self.done[(tp.topic, tp.partition)] >= end:
                    del todo[(tp.topic, tp.partition)]
                    self.consumer.pause(tp)
            # Large batches: a replay has no reader waiting, and facts restated across a
            # batch (a place on every mention of its address) collapse in memory to one
            # write. Batch cuts never change the result (the live path cuts anywhere).
            if records and (len(records) >= self.batch_records or not todo):
                await self.store.apply_batch(records, deadletter=None)
                self.events += len(records)
                records = []
                if self.progress:
                    self.progress(self.events)


async def defer_indexes(conn: asyncpg.Connection, schema: str) -> list[str]:
    """Drop the fresh schema's secondary indexes (lookups for reads and for the resolver,
    which a replay does not run) and return their definitions, to build once at the end:
    one sort instead of an index insert per row. Unique indexes stay: upserts need them."""
    rows = await conn.fetch(
        "SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS ddl FROM pg_index x"
        " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace"
        " WHERE n.nspname = $1 AND NOT x.indisunique AND NOT x.indisprimary ORDER BY 1",
        schema,
    )
    for r in rows:
        await conn.execute(f'DROP INDEX "{schema}"."{r["name"]}"')
    return [r["ddl"] for r in rows]


async def compare(conn: asyncpg.Connection, live: str, rebuilt: str) -> dict[str, tuple[int, int]]:
    """Rows only in the live model (-) and only in the rebuild (+), per table."""
    out: dict[str, tuple[int, int]] = {}
    for table, cols in REBUILT_TABLES.items():
        a = f'SELECT {cols} FROM "{live}".{table}'
        b = f'SELECT {cols} FROM "{rebuilt}".{table}'
        missing = await conn.fetchval(f"SELECT count(*) FROM ({a} EXCEPT ALL {b}) x")
        extra = await conn.fetchval(f"SELECT count(*) FROM ({b} EXCEPT ALL {a}) x")
        if missing or extra:
            out[table] = (int(missing), int(extra))
    return out


async def _settled(conn: asyncpg.Connection, consumer: str, wait: float = 30.0) -> None:
    """Before comparing: let the live workers decide what they queued and read back what
    they decided (a decision applied but not yet read back is past the positions a rebuild
    goes to). Bounded: a busy hub is compared as it stands, and the log line says so."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pending_resolution) OR EXISTS (SELECT 1 FROM"
            " resolution_sent s LEFT JOIN stream_position p ON p.consumer = s.consumer"
            " AND p.topic = s.topic AND p.partition = s.partition WHERE s.consumer = $1"
            " AND coalesce(p.next_offset, 0) < s.next_offset)",
            consumer,
        ):
            return
        await asyncio.sleep(0.2)
    log.warning("rebuild.verify_while_busy", consumer=consumer, waited=wait)


async def rebuild(
    settings: Settings,
    schema: str,
    verify: bool,
    progress: Callable[[int], None] | None = None,
    consumer: str | None = None,
) -> RebuildReport:
    live_consumer = consumer or settings.streams_app_id
    t0 = time.monotonic()
    rb = Rebuilder(settings, schema, progress)
    report = RebuildReport(schema)
    conn = await asyncpg.connect(settings.require_database())
    try:
        await rb.start()
        await rb.run_until(await read_positions(conn, live_consumer))
        await rb.build_indexes()
        if verify:
            await _settled(conn, live_consumer)
            async with conn.transaction():
                # Freeze the live model: projector transactions wait at their first statement.
                await conn.execute("LOCK TABLE public.stream_position IN SHARE MODE")
                final = await read_positions(conn, live_consumer)
                await rb.run_until(final)
                report.differences = await compare(conn, "public", schema)
        report.events = rb.events
        report.seconds = time.monotonic() - t0
        return report
    finally:
        await rb.close()
        await conn.close()
