"""Given events flowing, when the worker is SIGKILLed mid-stream and restarted, then the read
model equals a clean rebuild from the same log: nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from hub import feed
from hub.config import Settings
from projections.store import create_pool, snapshot
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
    return int(await pool.fetchval(
        "SELECT count(*) FROM event_archive WHERE event_id LIKE $1", like))


async def test_sigkill_mid_stream_then_restart_equals_a_clean_rebuild(
    hub: Settings, producer: AIOKafkaProducer, start_worker: Callable[..., Worker],
) -> None:
    tag = unique("crash")
    events = feed.bulk(seed=11, n_residents=1500, n_cases=700, prefix=tag)
    dupes = events[::50]  # the same (source, id) again: must count once
    live_url = await new_database(hub, f"live_{tag.replace('-', '_')}")
    clean_url = await new_database(hub, f"clean_{tag.replace('-', '_')}")
    live, clean = await create_pool(live_url), await create_pool(clean_url)
    group = f"hub.internal.crash-live-{tag}"
    try:
        # Small batches: many transactions, so each kill lands between or inside them.
        worker = start_worker(live_url, app_id=group, HUB_BATCH_SIZE="100")
        ends = await publish(producer, events)
        ends = merge_ends(ends, await publish(producer, dupes),
                          await send_raw(producer, "agency.city", b"not json", b"crash-bad"))
        kills = 0
        at_kill: list[int] = []
        for fraction in (0.2, 0.5, 0.8):
            deadline = time.monotonic() + 120
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

        rebuild = start_worker(clean_url, app_id=f"hub.internal.crash-clean-{tag}")
        await wait_caught_up(clean, f"hub.internal.crash-clean-{tag}", ends, rebuild, timeout=300)
        rebuild.stop()

        assert kills == 3
        assert any(n < len(events) for n in at_kill), f"no kill landed mid-stream: {at_kill}"
        assert await _count(live, f"{tag}%") == len(events), "every event archived, once"
        live_rows, clean_rows = await snapshot(live), await snapshot(clean)
        for table in clean_rows:
            assert live_rows[table] == clean_rows[table], f"table {table} differs after crashes"
        assert len(live_rows["entity_field"]) > len(events)  # the model is not trivially empty
        bad = [r for r in live_rows["deadletter"] if r[3] == b"crash-bad"]
        assert len(bad) == 1 and bad[0][5] == "malformed-json"
        assert len(live_rows["person"]) >= 1500
    finally:
        await live.close()
        await clean.close()
