"""Where a worker resumes does not depend on faust's acks (issue 14): when partitions are
assigned it seeks them to the positions PostgreSQL stored with the rows. Here the group's
committed offsets are set back to 0 while no worker runs; the next worker reads on from
the stored positions (it says so), nothing applied twice, nothing skipped.

On a stack of its own, so the group and its topics hold only this test's records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from hub.config import Settings
from hub.sim import story
from projections.db import create_pool, read_positions
from tests.integration.conftest import Worker, own_stack, publish, wait_caught_up

GROUP = "hub.internal.seek"


class _AsFaust(RoundRobinPartitionAssignor):
    """The group's assignment protocol is faust's: a joiner must name the same one."""

    name = "faust"


async def _commit_zero(bootstrap: str, topics: list[str]) -> None:
    """Set the group's committed offsets to 0, as a consumer of its own once the stopped
    worker's membership has lapsed (the broker refuses a joiner of another assignment
    protocol while that member counts): joins, commits 0 for everything it is assigned."""
    deadline = time.monotonic() + 120
    while True:
        reset = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            group_id=GROUP,
            enable_auto_commit=False,
            partition_assignment_strategy=(_AsFaust,),
        )
        try:
            await reset.start()
            await asyncio.wait_for(reset.getmany(timeout_ms=100), 10)  # joins the group
            if reset.assignment():
                await reset.commit({tp: OffsetAndMetadata(0, "") for tp in reset.assignment()})
                assert all([await reset.committed(tp) == 0 for tp in reset.assignment()])
                return
        except (KafkaError, TimeoutError):
            pass  # the old member still counts: try again
        finally:
            await reset.stop()
        assert time.monotonic() < deadline, "could not join the group to reset its offsets"
        await asyncio.sleep(1)


async def test_a_worker_resumes_from_the_stored_positions_not_the_committed_offsets(
    hub: Settings, start_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    async with own_stack(hub, tmp_path, GROUP) as (st, _):
        events = story.bulk(seed=41, n_residents=120, n_cases=60, prefix="seek")
        producer = AIOKafkaProducer(bootstrap_servers=st.kafka_bootstrap, acks="all")
        await producer.start()
        pool = await create_pool(st.database_url)
        try:
            first = start_worker(st.database_url, app_id=GROUP, bootstrap=st.kafka_bootstrap)
            ends = await publish(producer, events[:-1])
            await wait_caught_up(pool, GROUP, ends, first)
            first.stop()
            stored = await read_positions(pool, GROUP)
            archived = await pool.fetchval("SELECT count(*) FROM event_archive")

            # The group's committed offsets back to the start, while no worker runs.
            await _commit_zero(st.kafka_bootstrap, sorted({t for t, _ in stored}))

            second = start_worker(st.database_url, app_id=GROUP, bootstrap=st.kafka_bootstrap)
            ends = await publish(producer, events[-1:])
            await wait_caught_up(pool, GROUP, ends, second)
            deadline = time.monotonic() + 60
            while "streams.seek_to_stored" not in second.tail():
                assert time.monotonic() < deadline and second.proc.poll() is None, second.tail()
                await asyncio.sleep(0.1)
            seeks = [
                orjson.loads(line[line.index("{") :])
                for line in second.log.read_text(errors="replace").splitlines()
                if "streams.seek_to_stored" in line and "{" in line
            ]
            moved = {k: v for s_ in seeks for k, v in s_["moved"].items()}
            # every partition the first worker had read was moved from 0 to where it stood
            assert {k: v[1] for k, v in moved.items()} == {
                f"{t}:{p}": o for (t, p), o in stored.items() if o > 0
            }, seeks
            assert all(v[0] in (0, None) for v in moved.values()), seeks
            assert await pool.fetchval("SELECT count(*) FROM event_archive") == archived + 1
            second.stop()
        finally:
            await pool.close()
            await producer.stop()
