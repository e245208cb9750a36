"""Given events flowing, when the worker is SIGKILLed mid-stream and restarted, then the read
model equals a clean rebuild from the same log: nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import time
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from hub.config import Settings
from hub.rebuild import rebuild
from hub.sim import story
from hub.sim.city import SimConfig, simulate
from projections.db import create_pool, snapshot
from tests.integration.conftest import (
    Worker,
    merge_ends,
    new_database,
    publish,
    send_raw,
    unique,
    wait_caught_up,
)


async def _count(pool, like: str) -> int:  # type: ignore[no-untyped-def]
    return int(
        await pool.fetchval("SELECT count(*) FROM event_archive WHERE event_id LIKE $1", like)
    )


async def test_sigkill_mid_stream_then_restart_equals_a_clean_rebuild(
    hub: Settings, producer: AIOKafkaProducer, start_worker: Callable[..., Worker]
) -> None:
    tag = unique("crash")
    # make test: 3 kills in ~2.5k events. Full size (bench/RESULTS.md):
    # HUB_CHAOS_KILLS=20 HUB_CHAOS_EVENTS=100000 pytest -k sigkill_mid_stream
    kills_wanted = int(os.environ.get("HUB_CHAOS_KILLS", "3"))
    size = int(os.environ.get("HUB_CHAOS_EVENTS", "0"))
    if size:
        events = [e.event for e in simulate(SimConfig(seed=11, events=size))]
        for e in events:  # ids unique to this run: the topics are shared with other tests
            e["id"] = f"{tag}-{e['id']}"
    else:
        events = story.bulk(seed=11, n_residents=1500, n_cases=700, prefix=tag)
    dupes = events[::50]  # the same (source, id) again: must count once
    live_url = await new_database(hub, f"live_{tag.replace('-', '_')}")
    live = await create_pool(live_url)
    group = f"hub.internal.crash-live-{tag}"
    try:
        # Small batches: many transactions, so each kill lands between or inside them.
        worker = start_worker(live_url, app_id=group, HUB_BATCH_SIZE="100")
        ends = await publish(producer, events)
        ends = merge_ends(
            ends,
            await publish(producer, dupes),
            await send_raw(producer, "agency.city", b"not json", b"crash-bad"),
        )
        kills = 0
        at_kill: list[int] = []
        rng = random.Random(kills_wanted)
        fractions = (
            sorted(rng.uniform(0.05, 0.95) for _ in range(kills_wanted))
            if kills_wanted != 3
            else [0.2, 0.5, 0.8]
        )
        for fraction in fractions:
            deadline = time.monotonic() + 300
            while await _count(live, f"{tag}%") < fraction * len(events):
                assert worker.proc.poll() is None, worker.tail()
                assert time.monotonic() < deadline, f"no progress:\n{worker.tail()}"
                await asyncio.sleep(0.02)
            worker.kill()
            kills += 1
            at_kill.append(await _count(live, f"{tag}%"))
            worker = start_worker(live_url, app_id=group, HUB_BATCH_SIZE="100")
        await wait_caught_up(live, group, ends, worker, timeout=300)
        worker.stop()

        # The clean model: `civic-hub rebuild`'s path, from offset 0 into a fresh schema.
        report = await rebuild(
            dataclasses.replace(hub, database_url=live_url, streams_app_id=group),
            "clean",
            verify=True,
        )
        assert report.differences == {}, "the read model differs from a clean rebuild"

        assert kills == kills_wanted
        assert any(n < len(events) for n in at_kill), f"no kill landed mid-stream: {at_kill}"
        assert await _count(live, f"{tag}%") == len(events), "every event archived, once"
        live_rows = await snapshot(live)
        assert len(live_rows["entity_field"]) > len(events)  # the model is not trivially empty
        bad = [r for r in live_rows["deadletter"] if r[3] == b"crash-bad"]
        assert len(bad) == 1 and bad[0][5] == "malformed-json"
        assert len([n for n in live_rows["person_node"] if n[1].startswith("nid:")]) >= 1000
        print(f"chaos: {kills} SIGKILLs at {at_kill} of {len(events)} events; live == rebuild")
    finally:
        await live.close()


async def test_two_workers_share_the_partitions_and_one_is_killed(
    hub: Settings, producer: AIOKafkaProducer, start_worker: Callable[..., Worker]
) -> None:
    tag = unique("pair")
    url = await new_database(hub, f"pair_{tag.replace('-', '_')}")
    pool = await create_pool(url)
    group = f"hub.internal.pair-{tag}"
    try:
        first = start_worker(url, app_id=group, HUB_BATCH_SIZE="100")
        second = start_worker(url, app_id=group, HUB_BATCH_SIZE="100")
        events = story.bulk(seed=13, n_residents=1500, n_cases=600, prefix=tag)
        ends = await publish(producer, events)
        deadline = time.monotonic() + 120
        while await _count(pool, f"{tag}%") < 0.3 * len(events):
            assert time.monotonic() < deadline, first.tail() + second.tail()
            await asyncio.sleep(0.02)
        first.kill()  # its partitions move to the survivor after the session times out
        await wait_caught_up(pool, group, ends, second, timeout=300)
        second.stop()
        assert await _count(pool, f"{tag}%") == len(events)
        report = await rebuild(
            dataclasses.replace(hub, database_url=url, streams_app_id=group), "clean", verify=True
        )
        assert report.differences == {}
    finally:
        await pool.close()
