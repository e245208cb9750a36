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
