"""The faust transport the workers use: faust's aiokafka driver with a short fetch wait.

faust creates its aiokafka consumer with ``fetch_max_wait_ms=1500`` and no setting to change
it. A broker may hold a fetch until that wait runs out when little data has arrived; the
embedded broker does (measured: a plain aiokafka consumer at 2,000 events/s saw p99
publish → consume 764 ms with a 1,500 ms wait and 32 ms with 50 ms; a do-nothing faust
agent, p99 1.9 s). The wait is the floor of the read model's freshness, so the hub sets it
(``HUB_FETCH_MAX_WAIT_MS``, default 50). An idle consumer then asks 20 times a second, a
negligible load.

When partitions are assigned, faust seeks them to the group's committed offsets; this
consumer seeks them instead to the positions the read model stored with its rows
(:data:`stored_positions`, set by the composition root): where a worker resumes never
depends on faust's acks or commits (the positions also skip anything applied already).

Registered as faust transport ``hubkafka`` through faust's entry-point namespace
(``faust.transports`` in pyproject.toml); the workers' broker URLs use that scheme.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiokafka
import structlog
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

log = structlog.get_logger("streams.transport")
# Given the assigned (topic, partition)s, where the read model stands in each (the next
# offset to apply), as far as it knows. Called in the consumer's own thread and event loop.
StoredPositions = Callable[[set[tuple[str, int]]], Awaitable[Mapping[tuple[str, int], int]]]
stored_positions: StoredPositions | None = None

DEFAULT_FETCH_MAX_WAIT_MS = 50


def fetch_max_wait_ms() -> int:
    raw = os.environ.get("HUB_FETCH_MAX_WAIT_MS", "")
    try:
        value = int(raw) if raw else DEFAULT_FETCH_MAX_WAIT_MS
    except ValueError:
        raise SystemExit(f"HUB_FETCH_MAX_WAIT_MS must be whole milliseconds, got {raw!r}") from None
    if not 1 <= value <= 30_000:
        raise SystemExit(f"HUB_FETCH_MAX_WAIT_MS must be 1…30000, got {value}")
    return value


class ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher; not yet started here.
        consumer._fetch_max_wait_ms = fetch_max_wait_ms()
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek the assigned partitions to the read model's stored positions (those it has
        none for, to the group's committed offsets); answers where each now reads from."""
        committed = dict(await super().seek_to_committed())
        if stored_positions is None:
            return committed
        assigned = self.assignment()
        try:
            stored = await self.call_thread(
                stored_positions, {(tp.topic, tp.partition) for tp in assigned}
            )
        except Exception as exc:  # the database restarting: the positions still skip doubles
            log.warning("streams.stored_positions_unavailable", error=str(exc)[:200])
            return committed
        moved = {}
        for tp in assigned:
            at = stored.get((tp.topic, tp.partition))
            if at is None:
                continue
            key = next((k for k in committed if (k.topic, k.partition) == tp), tp)
            if committed.get(key) != at:
                moved[f"{tp.topic}:{tp.partition}"] = [committed.get(key), at]
                self._ensure_consumer().seek(driver.ensure_aiokafka_TP(tp), at)
            committed[key] = at
        log.info("streams.seek_to_stored", partitions=len(assigned), moved=moved)
        return committed


class Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):
    Consumer = Consumer
