"""Given hostile records (deep nesting, huge arrays, NUL, lone surrogates, numbers beyond
float range, another agency's source), when they reach the hub over Kafka and through the
gateway, then the worker dead-letters each with a reason and goes on to the valid events
after them, and the gateway answers 4xx, never 5xx; a body past the size limit is refused
without being held whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from hub.sim import story
from tests.integration.conftest import (
    CC,
    Worker,
    merge_ends,
    publish,
    send_raw,
    unique,
    wait_caught_up,
)
from tests.unit.test_intake_hostile import HOSTILE

SYS = {"Authorization": "Bearer sys-token-0123456789abcdef"}  # civil agency-system


async def test_hostile_records_are_dead_lettered_and_the_partition_moves_on(
    producer: AIOKafkaProducer, db: asyncpg.Pool, api: httpx.AsyncClient, main_worker: Worker
) -> None:
    tag = unique("hostile")
    key = f"{tag}-R".encode()  # one key: one partition, hostile records first
    ends = [await send_raw(producer, "agency.civil", v or b" ", key) for v in HOSTILE.values()]
    valid = story.event(
        "civil",
        "civil.resident.registered",
        f"{tag}-ok",
        story.EPOCH,
        f"{tag}-R",
        {
            "resident_id": f"{tag}-R",
            "household_id": "H",
            "person": {"name": "段兰萍"},
            "address": {"text": "某路3号"},
        },
    )
    ends.append(await publish(producer, [{**valid, "subject": f"{tag}-R"}]))
    await wait_caught_up(db, "hub.internal.streams", merge_ends(*ends), main_worker)
    ((tp, end),) = merge_ends(*ends).items()
    reasons = await db.fetch(
        "SELECT reason FROM deadletter WHERE topic = $1 AND partition = $2"
        ' AND "offset" >= $3 AND "offset" < $4',
        tp[0],
        tp[1],
        end - len(HOSTILE) - 1,
        end - 1,
    )
    assert len(reasons) == len(HOSTILE) and all(r["reason"] for r in reasons)
    assert (
        await db.fetchval("SELECT count(*) FROM event_archive WHERE event_id = $1", f"{tag}-ok")
        == 1
    )
    assert (await api.get("/healthz")).status_code == 200


async def test_the_gateway_answers_hostile_bodies_with_4xx(api: httpx.AsyncClient) -> None:
    headers = {**SYS, "Content-Type": "application/cloudevents+json"}
    statuses = {}
    for what, body in HOSTILE.items():
        r = await api.post("/v1/events", content=body, headers=headers)
        statuses[what] = r.status_code
    assert all(400 <= s < 500 for s in statuses.values()), statuses
    batch = b"[" + b",".join(v for v in HOSTILE.values() if v) + b"]"
    r = await api.post(
        "/v1/events",
        content=batch,
        headers={**SYS, "Content-Type": "application/cloudevents-batch+json"},
    )
    assert 400 <= r.status_code < 500


async def test_a_body_past_the_limit_is_refused_as_it_arrives(api: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # 32 MiB, streamed, no declared length
        for _ in range(32):
            yield b" " * (1024 * 1024)

    r = await api.post(
        "/v1/events",
        content=chunks(),
        headers={**SYS, "Content-Type": "application/cloudevents+json"},
    )
    assert r.status_code == 413
    assert CC  # the API is still answering reads
    assert (await api.get("/healthz")).status_code == 200
