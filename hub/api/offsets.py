"""Read-your-writes without polling: one LISTEN connection per API process.

The projector's batch transaction notifies ``hub_positions`` with the positions it moved
(:data:`projections.db.POSITIONS_CHANNEL`); PostgreSQL delivers a notification only when
the transaction commits, so the rows are visible by the time a request wakes. The watcher
keeps the highest positions it has heard of and wakes each waiting request once they cover
its ``min_offset``. The table stays the truth: a waiter reads it once when it starts (the
writes may already be applied) and again every :data:`RECHECK` seconds (a notification lost
while the listening connection was down cannot leave a request waiting to its deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg
import structlog

from hub.background import BackgroundLoop
from projections.db import (
    POSITIONS_CHANNEL,
    Positions,
    parse_positions_payload,
    reached,
    read_positions,
)

log = structlog.get_logger("hub.api.offsets")

RECHECK = 2.0  # seconds: the safety net under the notifications, not the way reads wake
RECONNECT = 1.0  # seconds between attempts when the listening connection is lost


class NotCaughtUp(TimeoutError):
    """The read model did not reach the positions within the wait."""


class PositionWatcher(BackgroundLoop):
    def __init__(self, dsn: str, pool: asyncpg.Pool, consumer: str, schema: str = "public"):
        self.dsn = dsn
        self.pool = pool
        self.consumer = consumer
        self.schema = schema
        self.known: Positions = {}
        self.waiters: dict[asyncio.Future[None], Positions] = {}
        self.listening = asyncio.Event()
        self.notices = 0
        self.connects = 0
        self._refreshing: set[asyncio.Task[None]] = set()

    # -- waiting ---------------------------------------------------------------------
    async def wait(self, want: Positions, timeout: float) -> None:
        """Return once the read model has applied everything below ``want``; raise
        :class:`NotCaughtUp` after ``timeout`` seconds."""
        if reached(self.known, want):
            return
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        fut: asyncio.Future[None] = loop.create_future()
        self.waiters[fut] = want  # registered before the read: no notice falls in between
        try:
            while True:
                self._learn(await read_positions(self.pool, self.consumer, self.schema))
                if fut.done() or reached(self.known, want):
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NotCaughtUp
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(fut), min(left, RECHECK))
                    return
        finally:
            self.waiters.pop(fut, None)
            if not fut.done():
                fut.cancel()

    def _learn(self, positions: Positions) -> None:
        for tp, o in positions.items():
            if o > self.known.get(tp, -1):
                self.known[tp] = o
        for fut, want in list(self.waiters.items()):
            if not fut.done() and reached(self.known, want):
                fut.set_result(None)

    # -- listening -------------------------------------------------------------------
    def _on_notice(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            notice = parse_positions_payload(payload)
        except (ValueError, KeyError, TypeError):
            log.warning("positions.bad_notice", payload=payload[:200])
            return
        if notice.schema != self.schema or notice.consumer != self.consumer:
            return
        self.notices += 1
        if notice.positions is not None:
            self._learn(notice.positions)
        elif self.waiters:
            task = asyncio.get_running_loop().create_task(self._refresh())
            self._refreshing.add(task)
            task.add_done_callback(self._refreshing.discard)

    async def _refresh(self) -> None:
        try:
            self._learn(await read_positions(self.pool, self.consumer, self.schema))
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("positions.refresh_failed", error=str(exc))

    async def _run(self) -> None:
        while True:
            lost = asyncio.Event()
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn)
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(POSITIONS_CHANNEL, self._on_notice)
                self.connects += 1
                self.listening.set()
                await self._refresh()  # what committed before we listened
                await lost.wait()
                log.warning("positions.listener_lost")
            except Exception as exc:  # the listener must outlive any failure
                log.warning("positions.listen_failed", error=str(exc), kind=type(exc).__name__)
            finally:
                self.listening.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(RECONNECT)
