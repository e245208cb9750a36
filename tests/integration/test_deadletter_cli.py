"""Given records rejected by mistake (an older hub's rule), when an operator runs
`civic-hub deadletter retry`, then the ones that now pass reach the read model, once."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
import orjson

from hub.config import Settings
from hub.sim import story
from tests.integration.conftest import Worker, unique, wait_caught_up


def cli(hub: Settings, *args: str) -> str:
    env = dict(
        os.environ,
        HUB_KAFKA_BOOTSTRAP=hub.require_kafka(),
        HUB_DATABASE_URL=hub.require_database(),
        HUB_EMBEDDED_BROKER="1" if hub.embedded_broker else "0",
    )
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


async def test_retry_sends_again_what_now_passes_and_only_once(
    hub: Settings, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("retry")
    good = story.event(
        "civil",
        "civil.resident.registered",
        f"{tag}-ok",
        story.EPOCH,
        f"{tag}-R",
        {
            "resident_id": f"{tag}-R",
            "household_id": "H",
            "person": {"name": "孙杰"},
            "address": {"text": "某路9号"},
        },
    )
    still_bad = dict(good, id=f"{tag}-bad", data={"resident_id": f"{tag}-R"})
    # As an older hub version would have left them (a rule since fixed, and a real error).
    for off, (doc, reason) in enumerate([(good, "old-rule"), (still_bad, "invalid-data")]):
        await db.execute(
            'INSERT INTO deadletter (topic, partition, "offset", key, value, reason, detail,'
            " event_id) VALUES ('agency.civil', 99, $1, $2, $3, $4, 'test', $5)",
            10_000_000 + off,
            f"{tag}-R".encode(),
            orjson.dumps(doc),
            reason,
            doc["id"],
        )

    listed = cli(hub, "deadletter", "list", "--reason", "old-rule", "--limit", "1000")
    assert f"event {tag}-ok" in listed

    assert "would send 1 record(s) again" in cli(
        hub, "deadletter", "retry", "--reason", "old-rule", "--dry-run"
    )
    out = cli(hub, "deadletter", "retry")
    assert "sent 1 record(s) again" in out
    assert "invalid-data" in out  # reported as still rejected
    row = await db.fetchrow(
        "SELECT new_partition, new_offset FROM deadletter_retry"
        ' WHERE "offset" = 10000000 AND partition = 99'
    )
    assert row is not None
    await wait_caught_up(
        db,
        "hub.internal.streams",
        {("agency.civil", row["new_partition"]): row["new_offset"] + 1},
        main_worker,
    )
    assert (
        await db.fetchval("SELECT count(*) FROM event_archive WHERE event_id = $1", f"{tag}-ok")
        == 1
    )
    assert (
        await db.fetchval(
            'SELECT count(*) FROM deadletter_retry WHERE partition = 99 AND "offset" = 10000001'
        )
        == 0
    ), "the still-bad one stays"
    again = cli(hub, "deadletter", "retry", "--reason", "old-rule")
    assert "sent 0 record(s) again" in again
