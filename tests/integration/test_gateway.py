"""Given an agency that cannot speak Kafka, when it POSTs CloudEvents, then they reach the log
and the read model, once, and a rejected batch says why for each event."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import orjson

from hub.sim import story
from tests.integration.conftest import CC, Worker, unique

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
