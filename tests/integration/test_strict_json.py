"""Given CloudEvents whose JSON holds a key twice (envelope or data), an integer beyond int64
or a number beyond float range, when they reach the hub over Kafka, then the worker
dead-letters each with its reason (on hub.deadletter and in the table) and applies the
valid event after them; and through the gateway each is a 400 naming the reason, never a
5xx, and nothing is sent."""

from __future__ import annotations

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer

from hub.config import Settings
from hub.sim import story
from tests.integration.conftest import Worker, merge_ends, send_raw, unique, wait_caught_up
from tests.integration.test_deadletter import read_deadletters

SYS = {"Authorization": "Bearer sys-token-0123456789abcdef"}  # civil agency-system


def registration(tag: str) -> dict:
    return story.event(
        "civil",
        "civil.resident.registered",
        f"{tag}-ok",
        story.EPOCH,
        f"{tag}-R",
        {
            "resident_id": f"{tag}-R",
            "household_id": "H",
            "person": {"name": "陈静"},
            "address": {"text": "某路5号"},
        },
    )


def hostile(tag: str) -> dict[str, tuple[bytes, str]]:
    """name → (record value, the reason it must be rejected with)."""
    raw = orjson.dumps({**registration(tag), "id": f"{tag}-bad"})
    return {
        "duplicate id": (raw.replace(b'"id":', b'"id":"x","id":', 1), "duplicate-key"),
        "duplicate agency": (
            raw.replace(b'"agency":', b'"agency":"police","agency":', 1),
            "duplicate-key",
        ),
        "duplicate in data": (
            raw.replace(b'"person":{', b'"person":{"name":"X",', 1),
            "duplicate-key",
        ),
        "integer beyond int64": (
            raw.replace(b'"data":{', b'"data":{"n":9223372036854775808,', 1),
            "number-out-of-range",
        ),
        "integer beyond 64 bits": (
            raw.replace(b'"data":{', b'"data":{"n":-99999999999999999999,', 1),
            "number-out-of-range",
        ),
        "number beyond float range": (
            raw.replace(b'"data":{', b'"data":{"n":1e999,', 1),
            "number-out-of-range",
        ),
    }


async def test_the_worker_dead_letters_each_with_its_reason_and_moves_on(
    hub: Settings, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("strict")
    cases = hostile(tag)
    keys = {f"{tag}-{name}".encode(): case for name, case in cases.items()}
    ends = [
        await send_raw(producer, "agency.civil", value, key) for key, (value, _) in keys.items()
    ]
    ok = registration(tag)
    ends.append(await send_raw(producer, "agency.civil", orjson.dumps(ok), f"{tag}-ok".encode()))
    await wait_caught_up(db, "hub.internal.streams", merge_ends(*ends), main_worker)
    assert main_worker.proc.poll() is None, "the worker is still running"

    found = await read_deadletters(hub, set(keys))
    assert {k: h["hub.reason"].decode() for k, (_v, h) in found.items()} == {
        k: reason for k, (_v, reason) in keys.items()
    }
    assert found[f"{tag}-duplicate in data".encode()][1]["hub.field"] == b"data.person.name"
    assert all(v == keys[k][0] for k, (v, _h) in found.items()), "original bytes untouched"
    table = await db.fetch(
        "SELECT key, reason FROM deadletter WHERE key = ANY($1::bytea[])", list(keys)
    )
    assert {bytes(r["key"]): r["reason"] for r in table} == {
        k: reason for k, (_v, reason) in keys.items()
    }
    archived = await db.fetch(
        "SELECT event_id FROM event_archive WHERE event_id LIKE $1", f"{tag}%"
    )
    assert [r["event_id"] for r in archived] == [f"{tag}-ok"]


async def test_the_gateway_answers_400_with_the_reason_and_sends_nothing(
    api: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    tag = unique("strictgw")
    one = {**SYS, "Content-Type": "application/cloudevents+json"}
    for name, (value, reason) in hostile(tag).items():
        r = await api.post("/v1/events", content=value, headers=one)
        assert r.status_code == 400, (name, r.status_code, r.text)
        assert reason in r.text, (name, r.text)
    good = orjson.dumps(registration(tag))
    dup, _ = hostile(tag)["duplicate in data"]
    r = await api.post(
        "/v1/events",
        content=b"[" + good + b"," + dup + b"]",
        headers={**SYS, "Content-Type": "application/cloudevents-batch+json"},
    )
    assert r.status_code == 400, r.text
    (error,) = r.json()["errors"]
    assert (error["index"], error["reason"], error["field"]) == (
        1,
        "duplicate-key",
        "data.person.name",
    )
    assert (
        await db.fetchval("SELECT count(*) FROM gateway_seen WHERE event_id LIKE $1", f"{tag}%")
        == 0
    ), "all or nothing: the valid event of the batch was not sent"
    r = await api.post("/v1/events", content=good, headers=one)
    assert r.status_code == 202, r.text
