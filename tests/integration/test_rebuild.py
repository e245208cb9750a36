"""Given a live read model, when it is rebuilt from the log with `rebuild --verify`, then the
two are equal table by table; and a tampered live model is caught."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from hub.config import Settings
from hub.rebuild import rebuild
from hub.sim import story
from projections.db import create_pool
from tests.integration.conftest import Worker, new_database, publish, unique, wait_caught_up


async def test_rebuild_verify_matches_and_catches_tampering(
    hub: Settings, producer: AIOKafkaProducer, start_worker: Callable[..., Worker]
) -> None:
    tag = unique("rb")
    url = await new_database(hub, f"rb_{tag.replace('-', '_')}")
    group = f"hub.internal.rb-{tag}"
    worker = start_worker(url, app_id=group)
    # Unique ids: the shared topics also hold other tests' records, including the property
    # test's copies of sample events, which the rebuild reads too.
    ends = await publish(producer, story.bulk(seed=21, n_residents=300, n_cases=150, prefix=tag))
    pool = await create_pool(url)
    try:
        await wait_caught_up(pool, group, ends, worker)
        live = dataclasses.replace(hub, database_url=url, streams_app_id=group)

        report = await rebuild(live, "rebuild_check", verify=True)
        assert report.events > 0
        assert report.differences == {}  # known_at too: from the log, the same on a rebuild
        # when the hub took each event in: the log's time of its record, not the agency's
        taken = await pool.fetchrow(
            "SELECT count(*) FILTER (WHERE known_at IS NULL) AS missing,"
            " min(known_at) AS first, max(known_at) AS last FROM event_archive"
            " WHERE event_id LIKE $1",
            f"{tag}%",
        )
        assert taken["missing"] == 0
        assert (
            taken["first"]
            > datetime.now(UTC) - timedelta(hours=1)
            >= taken["first"] - timedelta(hours=2)
        )

        # The CLI says the same, with exit code 0.
        env = dict(
            os.environ,
            HUB_KAFKA_BOOTSTRAP=hub.require_kafka(),
            HUB_DATABASE_URL=url,
            HUB_STREAMS_APP_ID=group,
            HUB_EMBEDDED_BROKER="1",
        )
        out = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "hub.cli", "rebuild", "--verify"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "verified: the live read model equals the rebuild" in out.stdout

        await pool.execute(
            "UPDATE entity_field SET value = '\"tampered\"' WHERE ctid ="
            " (SELECT ctid FROM entity_field WHERE field = 'name' LIMIT 1)"
        )
        tampered = await rebuild(live, "rebuild_check", verify=True)
        assert tampered.differences == {"entity_field": (1, 1)}
    finally:
        worker.stop()
        await pool.close()
