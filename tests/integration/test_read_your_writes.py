"""Given a write through the gateway, when a read passes the gateway's ``min_offset`` token,
then it answers once the projector's batch transaction has committed that write, woken by
the projector's notification (LISTEN/NOTIFY), not by polling; a token the read model never
reaches answers 503 after the bounded wait."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from hub.api import context, offsets
from hub.api.offsets import NotCaughtUp, PositionWatcher
from hub.config import Settings
from hub.sim import story
from projections.db import POSITIONS_CHANNEL, parse_positions_payload
from tests.integration.conftest import CC, Worker, publish, unique

SYS = {"Authorization": "Bearer sys-token-0123456789abcdef"}  # civil agency-system
ONE = {**SYS, "Content-Type": "application/cloudevents+json"}


def registration(tag: str) -> dict:
    return next(
        e
        for e in story.bulk(seed=8, n_residents=1, n_cases=0, prefix=tag)
        if e["type"] == "civil.resident.registered"
    )


async def test_a_gateway_write_is_seen_by_a_read_with_its_min_offset(
    api: httpx.AsyncClient, main_worker: Worker
) -> None:
    for _ in range(3):  # each write read back at once, several times over
        e = registration(unique("ryw"))
        r = await api.post("/v1/events", content=orjson.dumps(e), headers=ONE)
        assert r.status_code == 202, r.text
        token = r.json()["min_offset"]
        nid = e["data"]["person"]["national_id"]
        read = await api.get(
            "/v1/persons", params={"national_id": nid, "min_offset": token}, headers=CC
        )
        assert read.status_code == 200, read.text
        assert [p["names"] for p in read.json()["items"]] == [[e["data"]["person"]["name"]]]


async def test_the_projector_notifies_the_positions_it_commits(
    hub: Settings, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    conn = await asyncpg.connect(hub.require_database())
    try:
        await conn.add_listener(POSITIONS_CHANNEL, lambda *a: heard.put_nowait(a[3]))
        ends = await publish(producer, [registration(unique("ntf"))])
        ((tp, end),) = ends.items()
        while True:
            notice = parse_positions_payload(await heard.get())
            if (
                notice.consumer == "hub.internal.streams"
                and (notice.positions or {}).get(tp, 0) >= end
            ):
                break
        assert notice.schema == "public"
        stored = await db.fetchval(
            "SELECT next_offset FROM stream_position WHERE consumer = $1 AND topic = $2"
            " AND partition = $3",
            "hub.internal.streams",
            tp[0],
            tp[1],
        )
        assert stored >= end, "notified only once committed"
    finally:
        await conn.close()


async def test_a_waiting_read_wakes_on_the_notification(
    hub: Settings,
    producer: AIOKafkaProducer,
    db: asyncpg.Pool,
    main_worker: Worker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No re-reads of the table while waiting: only a notification can wake the waiter.
    monkeypatch.setattr(offsets, "RECHECK", 3600.0)
    watcher = PositionWatcher(hub.require_database(), db, "hub.internal.streams")
    watcher.start()
    try:
        await watcher.listening.wait()
        e = registration(unique("wake"))
        # the token the gateway would give: the next offset of the record about to be sent
        md = await (
            await producer.send(
                "agency.civil", orjson.dumps(e), key=e["subject"].encode(), partition=None
            )
        )
        before = watcher.notices
        waiting = asyncio.create_task(
            watcher.wait({(md.topic, md.partition): md.offset + 1}, timeout=120)
        )
        await waiting
        assert watcher.notices > before or watcher.known[(md.topic, md.partition)] > md.offset
        assert (
            await db.fetchval("SELECT count(*) FROM event_archive WHERE event_id = $1", e["id"])
            == 1
        )
    finally:
        await watcher.stop()


async def test_a_token_never_reached_is_a_503_after_the_bounded_wait(
    hub: Settings, api: httpx.AsyncClient, db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context, "MIN_OFFSET_WAIT", 0.5)
    r = await api.get(
        "/v1/persons/P-0", params={"min_offset": "agency.civil:0:999999999"}, headers=CC
    )
    assert r.status_code == 503 and r.headers["retry-after"] == "2", r.text
    watcher = PositionWatcher(hub.require_database(), db, "hub.internal.streams")
    with pytest.raises(NotCaughtUp):
        await watcher.wait({("agency.civil", 0): 999_999_999}, timeout=0.2)


async def test_a_token_naming_a_topic_the_hub_does_not_read_is_a_400(
    api: httpx.AsyncClient,
) -> None:
    for token in ("hub.deadletter:0:5", "agency.nowhere:0:1", "x:0:1,agency.civil:0:0"):
        r = await api.get("/v1/persons/P-0", params={"min_offset": token}, headers=CC)
        assert r.status_code == 400 and "does not read" in r.json()["detail"], r.text


async def test_the_listener_comes_back_after_its_connection_is_killed(
    hub: Settings,
    producer: AIOKafkaProducer,
    db: asyncpg.Pool,
    main_worker: Worker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(offsets, "RECHECK", 3600.0)  # only a notification can wake a waiter
    watcher = PositionWatcher(hub.require_database(), db, "hub.internal.streams")
    watcher.start()
    try:
        await watcher.listening.wait()
        killed = await db.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE query = $1 AND pid <> pg_backend_pid()",
            f'LISTEN "{POSITIONS_CHANNEL}"',
        )
        assert killed >= 1
        while watcher.connects < 2:  # noqa: ASYNC110 - it reconnects by itself
            await asyncio.sleep(0.1)
        e = registration(unique("relisten"))
        md = await (await producer.send("agency.civil", orjson.dumps(e), key=e["subject"].encode()))
        await watcher.wait({(md.topic, md.partition): md.offset + 1}, timeout=120)
    finally:
        await watcher.stop()
