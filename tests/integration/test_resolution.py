"""Given a resident known to civil affairs, when the police record the same person without an
identity number, then the hub links them by a decision in the log, with its evidence."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hub import feed
from hub.config import Settings
from tests.integration.conftest import CC, Worker, publish, unique, wait_caught_up
from tests.integration.test_person_flow import fresh_nid


async def test_a_mention_without_an_id_is_linked_by_a_decision_with_evidence(
    hub: Settings, api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool,
    main_worker: Worker,
) -> None:
    tag = unique("res")
    nid = fresh_nid(tag)
    resident = feed.event("civil", "civil.resident.registered", f"{tag}-reg", feed.EPOCH,
                          f"{tag}-R", {"resident_id": f"{tag}-R", "household_id": "H",
                                       "person": {"national_id": nid, "name": "欧阳娜娜",
                                                  "phone": "13912345678"},
                                       "address": {"text": "某路8号"}})
    involved = feed.event("police", "police.person.involved", f"{tag}-inv", feed.EPOCH,
                          f"{tag}-A1", {"case_id": f"{tag}-A1", "role": "witness",
                                        "person": {"name": "欧阳娜娜", "phone": "13912345678"}})
    ends = await publish(producer, [resident])
    await wait_caught_up(db, "hub.internal.streams", ends, main_worker)
    await publish(producer, [involved])
    police_record = f"police:case-party:{tag}-A1/witness/{tag}-inv"
    deadline = time.monotonic() + 60
    row = None
    while row is None and time.monotonic() < deadline:
        row = await db.fetchrow("SELECT * FROM resolution_decision WHERE a = $1", police_record)
        await asyncio.sleep(0.1)
    assert row is not None, main_worker.tail()
    assert row["action"] == "link" and row["decided_by"] == "resolver/v1"
    assert row["b"] == f"civil:resident:{tag}-R"
    assert row["evidence"] == {"name": "欧阳娜娜", "phone": "13912345678"}
    assert row["score"] >= 0.7

    r = await api.get("/v1/persons", params={"national_id": nid}, headers=CC)
    person = r.json()["items"][0]
    assert {"agency": "police", "kind": "case-party", "id": f"{tag}-A1/witness/{tag}-inv"} in \
        person["records"]
    assert {"role": "witness", "agency": "police"}.items() <= person["cases"][0].items()

    # The decision is an event in the log, on the hub's resolution topic.
    consumer = AIOKafkaConsumer(hub.resolution_topic, bootstrap_servers=hub.require_kafka(),
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        seen = []
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                seen += [orjson.loads(m.value) for m in msgs if m.key == police_record.encode()]
        assert seen and seen[0]["type"] == "hub.person.linked"
        assert seen[0]["data"]["evidence"] == {"name": "欧阳娜娜", "phone": "13912345678"}
    finally:
        await consumer.stop()


async def test_an_uncertain_match_waits_for_a_person_who_confirms_it(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker,
) -> None:
    tag = unique("cand")
    nid = fresh_nid(tag)
    resident = feed.event("civil", "civil.resident.registered", f"{tag}-reg", feed.EPOCH,
                          f"{tag}-R", {"resident_id": f"{tag}-R", "household_id": "H",
                                       "person": {"national_id": nid, "name": "司马光明",
                                                  "phone": "13700001111"},
                                       "address": {"text": "某路9号"}})
    typo = feed.event("police", "police.person.involved", f"{tag}-inv", feed.EPOCH, f"{tag}-A",
                      {"case_id": f"{tag}-A", "role": "victim",
                       "person": {"name": "司马光铭", "phone": "13700001111"}})
    await wait_caught_up(db, "hub.internal.streams", await publish(producer, [resident]),
                         main_worker)
    await publish(producer, [typo])
    pid = (await api.get("/v1/persons", params={"national_id": nid}, headers=CC)
           ).json()["items"][0]["person_id"]
    deadline = time.monotonic() + 60
    items: list = []
    while not items and time.monotonic() < deadline:
        items = (await api.get(f"/v1/persons/{pid}/candidates", headers=CC)).json()["items"]
        await asyncio.sleep(0.2)
    assert len(items) == 1, main_worker.tail()
    cand = items[0]
    assert cand["evidence"] == {"name_close": ["司马光铭", "司马光明"], "phone": "13700001111"} \
        or cand["evidence"] == {"name_close": ["司马光明", "司马光铭"], "phone": "13700001111"}
    assert 0.45 <= cand["score"] < 0.7

    r = await api.post(f"/v1/persons/candidates/{cand['decision_id']}/confirm", headers=CC)
    assert r.status_code == 202 and r.json()["action"] == "link"
    police = {"agency": "police", "kind": "case-party", "id": f"{tag}-A/victim/{tag}-inv"}
    deadline = time.monotonic() + 60
    person: dict = {}
    while police not in person.get("records", []) and time.monotonic() < deadline:
        person = (await api.get(f"/v1/persons/{pid}", headers=CC)).json()
        await asyncio.sleep(0.2)
    assert police in person["records"]
    row = await db.fetchrow("SELECT decided_by, evidence FROM resolution_decision"
                            " WHERE decision_id = $1", r.json()["decision_id"])
    assert row["decided_by"] == "user:duty-officer-7"
    assert row["evidence"]["candidate"] == cand["decision_id"]
    assert (await api.get(f"/v1/persons/{pid}/candidates", headers=CC)).json()["items"] == []
