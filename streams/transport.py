"""The faust transport the workers use: faust's aiokafka driver with a short fetch wait.

faust creates its aiokafka consumer with ``fetch_max_wait_ms=1500`` and no setting to change
it. A broker may hold a fetch until that wait runs out when little data has arrived; the
embedded broker does (measured: a plain aiokafka consumer at 2,000 events/s saw p99
publish → consume 764 ms with a 1,500 ms wait and 32 ms with 50 ms; a do-nothing faust
agent, p99 1.9 s). The wait is the floor of the read model's freshness, so the hub sets it
(``HUB_FETCH_MAX_WAIT_MS``, default 50). An idle consumer then asks 20 times a second, a
negligible load.

Registered as faust transport ``hubkafka`` through faust's entry-point namespace
(``faust.transports`` in pyproject.toml); the workers' broker URLs use that scheme.
"""

from __future__ import annotations

import os
from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as driver

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


class Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):
    Consumer = Consumer
