"""The sweep's clock as an event-time watermark (``HUB_SWEEP_CLOCK=watermark``, for runs
that publish a simulated city in order of its time): a real worker raises a notice only once
the watermark (the event time every inbound partition reached) has passed its due instant,
and raises it once, across SIGKILLs of the worker. Its times are far beyond anything else
the session publishes, so the other tests' events on the shared topics never carry the
watermark past them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from hub.config import Settings
from hub.sim.notices import watermark_marker
from projections.db import create_pool
from schemas.topics import agency_topic
from tests.integration.conftest import Worker, new_database, publish, unique
from tests.integration.test_coordination import _reported

SH = ZoneInfo("Asia/Shanghai")
WEDNESDAY = datetime(2150, 3, 4, 9, 0, tzinfo=SH)
THURSDAY = datetime(2150, 3, 5, 9, 0, tzinfo=SH)
# garbage, registration within 2 working hours: yellow at 80 %, red and urged at 100 %
A_YELLOW = datetime(2150, 3, 5, 10, 36, tzinfo=SH)
A_RED = datetime(2150, 3, 5, 11, 0, tzinfo=SH)
TICK = timedelta(microseconds=1)


async def _until(what: Callable[[], Any], worker: Worker, why: str, timeout: float = 180) -> Any:
    """Wait for a condition (a guard against hangs, not a speed assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        if worker.proc.poll() is not None:
            raise AssertionError(f"worker exited:\n{worker.tail()}")
        got = await what()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached after {timeout}s: {why}\n{worker.tail()}")
        await asyncio.sleep(0.2)


async def _pass(hub: Settings, producer: AIOKafkaProducer, at: datetime) -> None:
    """Every inbound partition's time to ``at``: the watermark follows, once all applied."""
    for agency in hub.agencies:
        for p in range(hub.partitions):
            m = watermark_marker(agency, p, at)
            await producer.send_and_wait(
                agency_topic(agency), orjson.dumps(m), key=m["subject"].encode(), partition=p
            )


async def test_a_notice_waits_for_the_watermark_and_is_raised_once_across_sigkills(
    hub: Settings, producer: AIOKafkaProducer, start_worker: Callable[..., Worker]
) -> None:
    """Given case B reported on Wednesday and case A on Thursday 09:00 (A's yellow warning
    falls due at 10:36), and every partition's events up to 10:36 exactly, when the worker
    sweeps, then B's notices are raised and A's warning is not (due at the watermark's very
    instant: not before it); when the worker is SIGKILLed, restarted, and the partitions
    pass 10:36, then A's warning is raised, once, claimed at a watermark not before its due
    instant; after another SIGKILL and the partitions past 11:00, its red warning and
    urging follow and the yellow one is not raised again."""
    tag = unique("wm")
    app = f"hub.internal.{tag}"
    grid = "95" + tag[-8:].encode().hex()[:12]
    a, b = f"{tag}-A", f"{tag}-B"
    dsn = await new_database(hub, "watermark_" + tag[-8:])
    pool = await create_pool(dsn)
    env = {"app_id": app, "HUB_SWEEP_CLOCK": "watermark"}
    worker = start_worker(dsn, **env)

    async def claims(case: str) -> list[asyncpg.Record]:
        return await pool.fetch(
            "SELECT c.type, c.slot, c.due_at, c.swept_at FROM notice_claim c"
            " JOIN case_thread t ON t.thread_id = c.thread_id"
            " JOIN record_link l ON l.entity_id = t.case_id"
            " WHERE l.agency = 'city' AND l.kind = 'case' AND l.record_id = $1",
            case,
        )

    async def watermark() -> datetime | None:
        return await pool.fetchval("SELECT at FROM sweep_watermark WHERE consumer = $1", app)

    try:
        await publish(
            producer, [_reported(tag, b, WEDNESDAY, grid), _reported(tag, a, THURSDAY, grid)]
        )
        await _pass(hub, producer, A_YELLOW)
        # B's yellow, red and urging fell due on Wednesday: raised at the watermark 10:36
        got_b = await _until(
            lambda: _at_least(claims(b), 3), worker, "B's notices before the watermark"
        )
        assert await watermark() == A_YELLOW
        assert {r["swept_at"] for r in got_b} == {A_YELLOW - TICK}
        assert await claims(a) == []  # due at the watermark itself: not yet

        worker.kill()
        worker = start_worker(dsn, **env)
        await _pass(hub, producer, A_YELLOW + TICK)
        got_a = await _until(lambda: claims(a), worker, "A's yellow warning after the watermark")
        assert [(r["type"], r["due_at"]) for r in got_a] == [("hub.case.warned", A_YELLOW)]
        assert got_a[0]["swept_at"] >= got_a[0]["due_at"]

        worker.kill()
        worker = start_worker(dsn, **env)
        await _pass(hub, producer, A_RED + TICK)
        got_a = await _until(lambda: _at_least(claims(a), 3), worker, "A's red and urging")
        assert sorted((r["type"], r["due_at"]) for r in got_a) == [
            ("hub.case.urged", A_RED),
            ("hub.case.warned", A_YELLOW),
            ("hub.case.warned", A_RED),
        ]
        assert len({r["slot"] for r in got_a}) == 3
        assert all(r["swept_at"] >= r["due_at"] for r in got_a)
        assert len(await claims(b)) == 3  # nothing more of B fell due (supervised: a week on)
    finally:
        worker.stop()
        await pool.close()


async def _at_least(rows: Any, n: int) -> list[asyncpg.Record] | None:
    got = await rows
    return got if len(got) >= n else None
