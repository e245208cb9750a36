"""Integration fixtures: a real PostgreSQL and a real Kafka-protocol broker (the embedded
ones, fresh for the session), real faust workers as child processes, the real API server.

Set HUB_KAFKA_BOOTSTRAP / HUB_DATABASE_URL to run the same tests against real services.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer

from hub.api.app import create_app
from hub.config import Settings, load_settings
from hub.devstack import EmbeddedStack, free_port
from hub.tokens import Principal, TokenBook
from hub.topics import ensure_topics
from projections.db import create_pool, migrate, reached, read_positions
from schemas.topics import agency_topic

pytestmark = pytest.mark.integration

TOKENS = {
    "cc-token-0123456789abcdef": Principal("duty-officer-7", "city", "command-center"),
    "sys-token-0123456789abcdef": Principal("civil-registry", "civil", "agency-system"),
    "aud-token-0123456789abcdef": Principal("auditor-1", "civil", "auditor"),
    "court-token-0123456789abcdef": Principal("clerk-3", "court", "command-center"),
    "police-token-0123456789abcdef": Principal("officer-9", "police", "investigator"),
    "civil-token-0123456789abcdef": Principal("caseworker-2", "civil", "command-center"),
}
CC = {"Authorization": "Bearer cc-token-0123456789abcdef", "X-Purpose": "case-handling"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    base = load_settings()
    data = tmp_path_factory.mktemp("hub-data")
    st = EmbeddedStack(
        data / "stack",
        want_kafka=base.kafka_bootstrap is None,
        want_database=base.database_url is None,
    )
    st.start()
    try:
        yield dataclasses.replace(
            base,
            kafka_bootstrap=base.kafka_bootstrap or st.kafka_bootstrap,
            database_url=base.database_url or st.database_url,
            data_dir=data,
            embedded_broker=base.kafka_bootstrap is None,
            producer_idempotence=base.producer_idempotence and base.kafka_bootstrap is not None,
        )
    finally:
        st.stop()


async def new_database(settings: Settings, name: str) -> str:
    """A fresh database beside the main one, for a second, independent read model."""
    conn = await asyncpg.connect(settings.require_database())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = settings.require_database().rsplit("/", 1)[0] + "/" + name
    await migrate(url)
    return url


@pytest.fixture(scope="session")
async def hub(stack: Settings) -> Settings:
    await ensure_topics(stack)
    await migrate(stack.require_database())
    return stack


@dataclasses.dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@pytest.fixture(scope="session")
def start_worker(hub: Settings) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(
        database_url: str | None = None,
        app_id: str = "hub.internal.streams",
        bootstrap: str | None = None,
        **env_extra: str,
    ) -> Worker:
        env = dict(os.environ)
        env.update(
            {
                "HUB_KAFKA_BOOTSTRAP": bootstrap or hub.require_kafka(),
                "HUB_DATABASE_URL": database_url or hub.require_database(),
                "HUB_EMBEDDED_BROKER": "1" if hub.embedded_broker else "0",
                "HUB_DATA_DIR": str(hub.data_dir),
                "HUB_STREAMS_APP_ID": app_id,
                **env_extra,
            }
        )
        log = hub.data_dir / f"worker-{app_id}-{len(started)}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.worker", "worker", "--without-web", "-l", "warn"],
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        w = Worker(proc, log)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


@pytest.fixture(scope="session")
def main_worker(start_worker: Callable[..., Worker]) -> Worker:
    return start_worker()


@contextlib.asynccontextmanager
async def serve_api(
    settings: Settings, tokens: dict[str, Principal] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The real API server (uvicorn) for ``settings`` on a free port, and a client for it
    (``tokens``: the test tokens, unless others are given)."""
    port = free_port()
    app = create_app(
        dataclasses.replace(settings, api_port=port), TokenBook(dict(tokens or TOKENS))
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def own_stack(
    hub: Settings, data_dir: Path, group: str
) -> AsyncIterator[tuple[EmbeddedStack, Settings]]:
    """A PostgreSQL and a broker of the test's own (to stop and start them, or to have a
    group and topics that hold only its records), migrated, topics made, with the settings
    that name them and ``group``; stopped after."""
    st = EmbeddedStack(data_dir / "own").start()
    try:
        settings = dataclasses.replace(
            hub,
            kafka_bootstrap=st.kafka_bootstrap,
            database_url=st.database_url,
            streams_app_id=group,
            data_dir=data_dir,
        )
        await ensure_topics(settings)
        await migrate(st.database_url)
        yield st, settings
    finally:
        st.stop()


@pytest.fixture(scope="session")
async def api(hub: Settings, main_worker: Worker) -> AsyncIterator[httpx.AsyncClient]:
    """The real API server on the session's stack, and a client for it."""
    async with serve_api(hub) as client:
        yield client


@pytest.fixture(scope="session")
async def producer(hub: Settings) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(
        bootstrap_servers=hub.require_kafka(),
        acks="all",
        enable_idempotence=hub.producer_idempotence,
    )
    await p.start()
    yield p
    await p.stop()


@pytest.fixture(scope="session")
async def db(hub: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(hub.require_database())
    yield pool
    await pool.close()


async def publish(
    producer: AIOKafkaProducer, events: list[dict[str, Any]]
) -> dict[tuple[str, int], int]:
    """Send events to their agency's topic; returns the end offset reached per partition."""
    futures = [
        await producer.send(
            agency_topic(e["agency"]), orjson.dumps(e), key=str(e["subject"]).encode()
        )
        for e in events
    ]
    ends: dict[tuple[str, int], int] = {}
    for f in futures:
        md = await f
        ends[(md.topic, md.partition)] = max(ends.get((md.topic, md.partition), 0), md.offset + 1)
    return ends


async def send_raw(
    producer: AIOKafkaProducer, topic: str, value: bytes, key: bytes
) -> dict[tuple[str, int], int]:
    md = await producer.send_and_wait(topic, value, key=key)
    return {(md.topic, md.partition): md.offset + 1}


async def wait_caught_up(
    pool: asyncpg.Pool,
    consumer: str,
    ends: dict[tuple[str, int], int],
    worker: Worker | None = None,
    timeout: float = 120.0,
) -> None:
    """Wait until the consumer's stored positions reach ``ends``, the workers' resolver has
    decided every record the batches queued, and the consumer has read back every decision
    it sent. A generous deadline guards against a hung
    worker; it is not a speed assertion."""
    deadline = time.monotonic() + timeout
    while True:
        have = await read_positions(pool, consumer)
        if (
            reached(have, ends)
            and not await pool.fetchval("SELECT EXISTS (SELECT 1 FROM pending_resolution)")
            and not await pool.fetchval(  # and it has read back every decision it sent
                "SELECT EXISTS (SELECT 1 FROM resolution_sent s LEFT JOIN stream_position p"
                " ON p.consumer = s.consumer AND p.topic = s.topic AND p.partition = s.partition"
                " WHERE s.consumer = $1 AND coalesce(p.next_offset, 0) < s.next_offset)",
                consumer,
            )
        ):
            return
        if worker is not None and worker.proc.poll() is not None:
            raise AssertionError(f"worker exited with {worker.proc.returncode}:\n{worker.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not caught up after {timeout}s: have {have}, want {ends}"
                + (f"\n{worker.tail()}" if worker else "")
            )
        await asyncio.sleep(0.1)


def merge_ends(*many: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = {}
    for ends in many:
        for tp, o in ends.items():
            out[tp] = max(out.get(tp, 0), o)
    return out


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
