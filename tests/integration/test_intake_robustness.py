"""Property, through the real worker: random bytes, broken JSON, wrong types, huge fields and
forged agencies never crash or stall it, and every record ends in the read model or in the
dead letters, exactly."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.config import Settings
from projections.db import create_pool
from projections.intake import InboundRecord, check
from projections.project import Accepted
from tests.integration.conftest import Worker, merge_ends, wait_caught_up
from tests.unit.test_intake_properties import AGENCIES, records


async def _scenario(hub: Settings, worker: Worker, batch: list[InboundRecord]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=hub.require_kafka(), acks="all", max_request_size=2_000_000
    )
    await producer.start()
    pool = await create_pool(hub.require_database())
    try:
        sent = []
        for rec in batch:
            md = await producer.send_and_wait(rec.topic, rec.value, key=b"prop")
            sent.append((rec, md))
        await wait_caught_up(
            pool,
            "hub.internal.streams",
            merge_ends(*[{(m.topic, m.partition): m.offset + 1} for _, m in sent]),
            worker,
        )
        coords = [(m.topic, m.partition, m.offset) for _, m in sent]
        t, p, o = zip(*coords, strict=True)
        archived = await pool.fetchval(
            "SELECT count(*) FROM event_archive a JOIN unnest($1::text[], $2::int[], $3::bigint[])"
            ' AS x(t, p, o) ON a.topic = x.t AND a.partition = x.p AND a."offset" = x.o',
            list(t),
            list(p),
            list(o),
        )
        dead = await pool.fetchval(
            "SELECT count(*) FROM deadletter d JOIN unnest($1::text[], $2::int[], $3::bigint[])"
            ' AS x(t, p, o) ON d.topic = x.t AND d.partition = x.p AND d."offset" = x.o',
            list(t),
            list(p),
            list(o),
        )
        dead_at = {
            (r[0], r[1], r[2])
            for r in await pool.fetch(
                'SELECT topic, partition, "offset" FROM deadletter d JOIN unnest($1::text[],'
                " $2::int[], $3::bigint[]) AS x(t, p, o) ON d.topic = x.t AND d.partition = x.p"
                ' AND d."offset" = x.o',
                list(t),
                list(p),
                list(o),
            )
        }
        duplicates = 0
        for rec, m in sent:
            one = check(InboundRecord(m.topic, m.partition, m.offset, None, rec.value), AGENCIES)
            if isinstance(one, Accepted):
                row = await pool.fetchrow(
                    'SELECT topic, partition, "offset" FROM event_archive'
                    " WHERE source = $1 AND event_id = $2",
                    *one.env.key,
                )
                assert row is not None, f"accepted event {one.env.key} is not in the archive"
                here = (m.topic, m.partition, m.offset)
                # Another copy holds the archive row: the same event again (a duplicate), or
                # the id reused for other content (dead-lettered, counted there).
                duplicates += tuple(row) != here and here not in dead_at
        assert archived + dead + duplicates == len(batch)
        assert worker.proc.poll() is None, "the worker survived"
    finally:
        await producer.stop()
        await pool.close()


@settings(max_examples=3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(records(), min_size=40, max_size=80))
def test_random_input_ends_in_the_read_model_or_the_dead_letters(
    hub: Settings, main_worker: Worker, batch: list[InboundRecord]
) -> None:
    asyncio.run(_scenario(hub, main_worker, batch))
