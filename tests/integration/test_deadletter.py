"""Given records the hub cannot accept, then each lands in hub.deadletter with its reason and
original bytes, and never in the read model."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hub.config import Settings
from hub.sim import story
from schemas.topics import DEADLETTER_TOPIC
from tests.integration.conftest import Worker, merge_ends, send_raw, unique, wait_caught_up


async def read_deadletters(
    settings: Settings, keys: set[bytes], timeout: float = 60
) -> dict[bytes, tuple[bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        DEADLETTER_TOPIC,
        bootstrap_servers=settings.require_kafka(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: dict[bytes, tuple[bytes, dict[str, bytes]]] = {}
    try:
        deadline = time.monotonic() + timeout
        while not keys <= found.keys() and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                for m in msgs:
                    if m.key in keys:
                        found[m.key] = (m.value, dict(m.headers))
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return found


async def test_malformed_forged_and_invalid_records_are_dead_lettered_with_reasons(
    hub: Settings, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("dl")
    good = story.event(
        "civil",
        "civil.resident.registered",
        f"{tag}-ok",
        story.EPOCH,
        f"{tag}-R",
        {
            "resident_id": f"{tag}-R",
            "household_id": "H",
            "person": {"name": "王芳"},
            "address": {"text": "某路1号"},
        },
    )
    forged = dict(good, id=f"{tag}-forged", agency="police", type="police.case.opened")
    invalid = dict(good, id=f"{tag}-invalid", data={"resident_id": f"{tag}-R"})
    malformed = b'{"specversion": "1.0", "id": '
    cases = {
        f"{tag}-k-malformed".encode(): (malformed, b"malformed-json"),
        f"{tag}-k-forged".encode(): (orjson.dumps(forged), b"forged-agency"),
        f"{tag}-k-invalid".encode(): (orjson.dumps(invalid), b"invalid-data"),
    }
    ends = [
        await send_raw(producer, "agency.civil", value, key)
        for key, (value, _reason) in cases.items()
    ]
    ends.append(await send_raw(producer, "agency.civil", orjson.dumps(good), b"k-good"))
    await wait_caught_up(db, "hub.internal.streams", merge_ends(*ends), main_worker)

    found = await read_deadletters(hub, set(cases))
    assert found.keys() == cases.keys()
    for key, (value, reason) in cases.items():
        got_value, headers = found[key]
        assert got_value == value, "the original bytes travel untouched"
        assert headers["hub.reason"] == reason
        assert headers["hub.detail"]
        assert headers["hub.origin.topic"] == b"agency.civil"
    assert found[f"{tag}-k-invalid".encode()][1]["hub.field"] == b"person"
    assert b"police" in found[f"{tag}-k-forged".encode()][1]["hub.detail"]

    archived = await db.fetch(
        "SELECT event_id FROM event_archive WHERE event_id LIKE $1", f"{tag}%"
    )
    assert [r["event_id"] for r in archived] == [f"{tag}-ok"]
    table = await db.fetch(
        "SELECT key, reason FROM deadletter WHERE key = ANY($1::bytea[])", list(cases)
    )
    assert {bytes(r["key"]): r["reason"].encode() for r in table} == {
        k: reason for k, (_v, reason) in cases.items()
    }


async def test_the_same_event_sent_twice_counts_once(
    producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("dup")
    e = story.event(
        "civil",
        "civil.resident.registered",
        f"{tag}-once",
        story.EPOCH,
        f"{tag}-R",
        {
            "resident_id": f"{tag}-R",
            "household_id": "H",
            "person": {"name": "赵磊"},
            "address": {"text": "某路2号"},
        },
    )
    first = await send_raw(producer, "agency.civil", orjson.dumps(e), e["subject"].encode())
    await wait_caught_up(db, "hub.internal.streams", first, main_worker)
    # Same (source, id) again, later and in another batch.
    second = await send_raw(producer, "agency.civil", orjson.dumps(e), e["subject"].encode())
    await wait_caught_up(db, "hub.internal.streams", second, main_worker)
    n = await db.fetchval("SELECT count(*) FROM event_archive WHERE event_id = $1", f"{tag}-once")
    assert n == 1
    touched = await db.fetchval(
        "SELECT count(*) FROM event_entity WHERE entity_kind = 'record' AND entity_id = $1",
        f"civil:resident:{tag}-R",
    )
    assert touched == 1


async def test_an_id_reused_for_other_content_is_dead_lettered_as_a_conflict(
    producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("conflict")
    e = story.event(
        "civil",
        "civil.resident.registered",
        f"{tag}-1",
        story.EPOCH,
        f"{tag}-R",
        {
            "resident_id": f"{tag}-R",
            "household_id": "H",
            "person": {"name": "钱明"},
            "address": {"text": "某路3号"},
        },
    )
    other = {**e, "data": {**e["data"], "person": {"name": "钱铭"}}}
    first = await send_raw(producer, "agency.civil", orjson.dumps(e), e["subject"].encode())
    await wait_caught_up(db, "hub.internal.streams", first, main_worker)
    # Same subject, so the same partition: which copy came first is a fact of the log. (Reuse
    # across partitions would leave the winner to interleaving; see the issue note.)
    second = await send_raw(producer, "agency.civil", orjson.dumps(other), e["subject"].encode())
    await wait_caught_up(db, "hub.internal.streams", second, main_worker)
    ((tp, end),) = second.items()
    row = await db.fetchrow(
        "SELECT reason, field FROM deadletter WHERE topic = $1 AND"
        ' partition = $2 AND "offset" = $3',
        tp[0],
        tp[1],
        end - 1,
    )
    assert tuple(row) == ("conflicting-duplicate", "id")
    name = await db.fetchval(
        "SELECT value FROM entity_field f JOIN event_archive a ON a.event_id = f.event_id"
        " WHERE a.event_id = $1 AND f.field = 'name'",
        f"{tag}-1",
    )
    assert name == "钱明"
