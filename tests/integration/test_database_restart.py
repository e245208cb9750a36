"""PostgreSQL stopped in immediate mode and started again, several times, while events flow
(issue 14): the worker and the API wait and resume on their own (the worker never exits,
says so in one line each way), /healthz answers 503 "degraded" meanwhile, and afterwards
the live read model equals a clean rebuild from the log: nothing lost, nothing doubled.

On a stack of its own (its own PostgreSQL and broker), so the session's is never stopped."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from hub.config import Settings
from hub.rebuild import rebuild
from hub.sim import story
from hub.sim.city import SimConfig, simulate
from projections.db import create_pool
from tests.integration.conftest import Worker, own_stack, publish, serve_api, wait_caught_up

GROUP = "hub.internal.restart"


def _log(worker: Worker) -> str:
    return worker.log.read_text(errors="replace") if worker.log.exists() else ""


async def _wait_for(what: str, check: Callable[[], bool], worker: Worker, timeout: float = 60):
    """Until ``check()`` holds; a generous deadline guards a hung worker (not a speed test)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert worker.proc.poll() is None, f"worker exited:\n{worker.tail()}"
        assert time.monotonic() < deadline, f"{what} not seen:\n{worker.tail()}"
        await asyncio.sleep(0.1)


async def test_database_restarts_are_waited_out_and_nothing_is_lost_or_doubled(
    hub: Settings, start_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    async with own_stack(hub, tmp_path, GROUP) as (st, s):
        worker = start_worker(st.database_url, app_id=GROUP, bootstrap=st.kafka_bootstrap)
        # make test: 3 restarts in ~1.5k events. Full size (bench/RESULTS.md):
        # HUB_PG_RESTARTS=10 HUB_PG_RESTART_EVENTS=100000 pytest -k database_restarts
        restarts = int(os.environ.get("HUB_PG_RESTARTS", "3"))
        size = int(os.environ.get("HUB_PG_RESTART_EVENTS", "0"))
        if size:
            events = [e.event for e in simulate(SimConfig(seed=31, events=size))][:size]
        else:
            events = story.bulk(seed=31, n_residents=400, n_cases=200, prefix="pgr")
        # a chunk published, then the database stopped while the worker applies it
        chunks = [events[i :: restarts + 1] for i in range(restarts + 1)]
        producer = AIOKafkaProducer(bootstrap_servers=st.kafka_bootstrap, acks="all")
        await producer.start()
        ends: dict[tuple[str, int], int] = {}
        try:
            async with serve_api(s) as api:
                for i, chunk in enumerate(chunks):
                    for tp, o in (await publish(producer, chunk)).items():
                        ends[tp] = max(ends.get(tp, 0), o)
                    if i == restarts:
                        break
                    st.stop_postgres(immediate=True)
                    health = await api.get("/healthz")
                    assert health.status_code == 503 and health.json()["health"] == "degraded"
                    # the worker meets the outage (it has a chunk to apply) and waits
                    await _wait_for(
                        "the worker waiting",
                        lambda n=i: _log(worker).count("projector.database_unavailable") > n,
                        worker,
                    )
                    st.start_postgres()
                    await _wait_for(
                        "the worker back",
                        lambda n=i: _log(worker).count("projector.database_back") > n,
                        worker,
                    )
                pool = await create_pool(st.database_url)
                try:
                    await wait_caught_up(pool, GROUP, ends, worker, timeout=300 + size / 100)
                finally:
                    await pool.close()
                assert (await api.get("/healthz")).status_code == 200
        finally:
            await producer.stop()
        assert worker.proc.poll() is None, worker.tail()  # it never exited
        log = worker.log.read_text(errors="replace")
        # each outage met (by the batches, the resolver or both), each waited out
        assert log.count("projector.database_unavailable") >= restarts, log[-3000:]
        assert log.count("projector.database_back") >= restarts, log[-3000:]
        report = await rebuild(s, "rebuild_after_restarts", verify=True, consumer=GROUP)
        assert report.events >= len(events)
        assert report.differences == {}
        worker.stop()


pytestmark = pytest.mark.integration
