"""Given an agency that cannot speak Kafka, when it POSTs CloudEvents, then they reach the log
and the read model, once, and a rejected batch says why for each event."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer

from hub.config import Settings
from hub.sim import story
from hub.tokens import Principal
from tests.integration.conftest import (
    CC,
    TOKENS,
    Worker,
    send_raw,
    serve_api,
    unique,
    wait_caught_up,
)

SYS = {"Authorization": "Bearer sys-token-0123456789abcdef"}  # civil agency-system
BATCH = {**SYS, "Content-Type": "application/cloudevents-batch+json"}
ONE = {**SYS, "Content-Type": "application/cloudevents+json"}


def registrations(tag: str, n: int) -> list[dict]:
    return [
        e
        for e in story.bulk(seed=8, n_residents=n, n_cases=0, prefix=tag)
        if e["type"] == "civil.resident.registered"
    ]


async def test_a_batch_is_accepted_and_readable_with_min_offset(
    api: httpx.AsyncClient, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("gw")
    events = registrations(tag, 30)
    r = await api.post("/v1/events", content=orjson.dumps(events), headers=BATCH)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 30 and body["duplicates"] == 0
    nid = events[0]["data"]["person"]["national_id"]
    read = await api.get(
        "/v1/persons", params={"national_id": nid, "min_offset": body["min_offset"]}, headers=CC
    )
    assert read.status_code == 200
    assert read.json()["items"][0]["names"] == [events[0]["data"]["person"]["name"]]
    offsets = {(e["partition"], e["offset"]) for e in body["events"]}
    rows = await db.fetch(
        'SELECT partition, "offset" FROM event_archive WHERE event_id LIKE $1', f"{tag}-%"
    )
    assert {(r["partition"], r["offset"]) for r in rows} == offsets, "offsets told are the log's"


async def test_the_same_event_posted_twice_is_sent_once(
    api: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    tag = unique("gw2")
    e = registrations(tag, 1)[0]
    payload = orjson.dumps(e)
    first, second = await asyncio.gather(
        api.post("/v1/events", content=payload, headers=ONE),
        api.post("/v1/events", content=payload, headers=ONE),
    )
    assert sorted([first.json()["accepted"], second.json()["accepted"]]) == [0, 1]
    assert sorted([first.json()["duplicates"], second.json()["duplicates"]]) == [0, 1]
    third = await api.post("/v1/events", content=payload, headers=ONE)
    assert third.status_code == 202 and third.json() == {
        "accepted": 0,
        "duplicates": 1,
        "min_offset": None,
        "events": [],
    }
    n = await db.fetchval("SELECT count(*) FROM gateway_seen WHERE event_id = $1", e["id"])
    assert n == 1


async def test_a_batch_with_bad_events_is_refused_whole_with_reasons(
    api: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    tag = unique("gw3")
    good, bad_data, forged = registrations(tag, 3)
    bad_data = {**bad_data, "data": {**bad_data["data"], "person": {"gender": "X"}}}
    forged = {**forged, "agency": "police", "type": "police.case.opened"}
    r = await api.post("/v1/events", content=orjson.dumps([good, bad_data, forged]), headers=BATCH)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    errors = r.json()["errors"]
    assert [(e["index"], e["reason"], e["field"]) for e in errors] == [
        (1, "invalid-data", "person.name"),
        (2, "forged-agency", "agency"),
    ]
    assert (
        await db.fetchval("SELECT count(*) FROM gateway_seen WHERE event_id = $1", good["id"]) == 0
    ), "nothing of a refused batch is sent"


async def test_the_gateway_refuses_what_it_cannot_take(api: httpx.AsyncClient) -> None:
    e = registrations(unique("gw4"), 1)[0]
    body = orjson.dumps(e)
    assert (
        await api.post(
            "/v1/events", content=body, headers={"Content-Type": "application/cloudevents+json"}
        )
    ).status_code == 401
    assert (
        await api.post(
            "/v1/events",
            content=body,
            headers={
                "Authorization": CC["Authorization"],
                "Content-Type": "application/cloudevents+json",
            },
        )
    ).status_code == 403
    assert (
        await api.post("/v1/events", content=body, headers={**SYS, "Content-Type": "text/plain"})
    ).status_code == 415
    assert (await api.post("/v1/events", content=b"{oops", headers=ONE)).status_code == 400
    assert (await api.post("/v1/events", content=b"[]", headers=BATCH)).status_code == 400
    bad_token = await api.get("/v1/persons/x", params={"min_offset": "nonsense"}, headers=CC)
    assert bad_token.status_code == 400


async def test_an_instant_the_hub_cannot_keep_is_refused_at_the_door_not_by_the_worker(
    hub: Settings, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    """Given an approved extension due in the year 9999 (the hub keeps years 1900-2200),
    when a city system posts it, then the gateway answers 422 naming data.due_at (it once
    answered 202 and the worker then dead-lettered it as unprocessable); and when it comes
    over Kafka, it is dead-lettered at intake with the same reason and field."""
    tag = unique("gw5")
    e = story.event(
        "city",
        "city.case.extended",
        f"{tag}-x",
        story.EPOCH,
        f"{tag}-C",
        {
            "case_id": f"{tag}-C",
            "due_at": "9999-12-31T23:59:59+00:00",
            "reason": "材料待补",
            "approved_by": "街道主任",
        },
    )
    city_sys = {"city-sys-token-0123456789abcdef": Principal("city-grid", "city", "agency-system")}
    async with serve_api(hub, {**TOKENS, **city_sys}) as client:
        r = await client.post(
            "/v1/events",
            content=orjson.dumps(e),
            headers={
                "Authorization": "Bearer city-sys-token-0123456789abcdef",
                "Content-Type": "application/cloudevents+json",
            },
        )
    assert r.status_code == 422, r.text
    (err,) = r.json()["errors"]
    assert (err["reason"], err["field"]) == ("time-out-of-range", "due_at")
    assert "1900-2200" in err["detail"]

    ends = await send_raw(producer, "agency.city", orjson.dumps(e), e["subject"].encode())
    await wait_caught_up(db, "hub.internal.streams", ends, main_worker)
    ((tp, end),) = ends.items()
    row = await db.fetchrow(
        "SELECT reason, field FROM deadletter WHERE topic = $1 AND partition = $2"
        ' AND "offset" = $3',
        tp[0],
        tp[1],
        end - 1,
    )
    assert tuple(row) == ("time-out-of-range", "due_at")
