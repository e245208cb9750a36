"""Given a resident known to civil affairs, when the police record the same person without an
identity number, then the hub links them by a decision in the log, with its evidence."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hub.config import Settings
from hub.sim import story
from projections.db import create_pool
from projections.decide import Decision
from projections.intake import InboundRecord
from projections.store import Store
from tests.integration.conftest import CC, Worker, new_database, publish, unique, wait_caught_up
from tests.integration.test_person_flow import fresh_nid

INVESTIGATOR = {
    "Authorization": "Bearer police-token-0123456789abcdef",
    "X-Purpose": CC["X-Purpose"],
}


async def test_a_mention_without_an_id_is_linked_by_a_decision_with_evidence(
    hub: Settings,
    api: httpx.AsyncClient,
    producer: AIOKafkaProducer,
    db: asyncpg.Pool,
    main_worker: Worker,
) -> None:
    tag = unique("res")
    nid = fresh_nid(tag)
    resident = story.event(
        "civil",
        "civil.resident.registered",
        f"{tag}-reg",
        story.EPOCH,
        f"{tag}-R",
        {
            "resident_id": f"{tag}-R",
            "household_id": "H",
            "person": {"national_id": nid, "name": "欧阳娜娜", "phone": "13912345678"},
            "address": {"text": "某路8号"},
        },
    )
    involved = story.event(
        "police",
        "police.person.involved",
        f"{tag}-inv",
        story.EPOCH,
        f"{tag}-A1",
        {
            "case_id": f"{tag}-A1",
            "role": "witness",
            "person": {"name": "欧阳娜娜", "phone": "13912345678"},
        },
    )
    ends = await publish(producer, [resident])
    await wait_caught_up(db, "hub.internal.streams", ends, main_worker)
    await publish(producer, [involved])
    police_record = f"police:case-party:{tag}-A1/witness/{tag}-inv"
    civil_record = f"civil:resident:{tag}-R"
    deadline = time.monotonic() + 60
    row = None
    while row is None and time.monotonic() < deadline:
        row = await db.fetchrow("SELECT * FROM resolution_decision WHERE b = $1", police_record)
        await asyncio.sleep(0.1)
    assert row is not None, main_worker.tail()
    assert row["action"] == "link" and row["decided_by"] == "resolver/fs-1"
    assert row["a"] == civil_record  # a pair is named smaller record first
    assert row["evidence"]["levels"] == {"name": "exact", "phone": "exact"}
    assert row["score"] >= 0.99

    r = await api.get("/v1/persons", params={"national_id": nid}, headers=CC)
    person = r.json()["items"][0]
    assert {"agency": "police", "kind": "case-party", "id": f"{tag}-A1/witness/{tag}-inv"} in _refs(
        person
    )
    assert {"role": "witness", "agency": "police"}.items() <= person["cases"][0].items()

    # The decision is an event in the log, on the hub's resolution topic.
    consumer = AIOKafkaConsumer(
        hub.resolution_topic,
        bootstrap_servers=hub.require_kafka(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen = []
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                seen += [orjson.loads(m.value) for m in msgs if m.key == civil_record.encode()]
        assert seen and seen[0]["type"] == "hub.person.linked"
        assert seen[0]["data"]["b"] == police_record
        assert seen[0]["data"]["evidence"]["levels"] == {"name": "exact", "phone": "exact"}
    finally:
        await consumer.stop()


async def test_an_uncertain_match_waits_for_a_person_who_confirms_it(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("cand")
    nid = fresh_nid(tag)
    resident = story.event(
        "civil",
        "civil.resident.registered",
        f"{tag}-reg",
        story.EPOCH,
        f"{tag}-R",
        {
            "resident_id": f"{tag}-R",
            "household_id": "H",
            "person": {"national_id": nid, "name": "司马光明", "phone": "13700001111"},
            "address": {"text": "某路9号"},
        },
    )
    # the same rare name, nothing else: likely, never certain (people share names)
    typo = story.event(
        "police",
        "police.person.involved",
        f"{tag}-inv",
        story.EPOCH,
        f"{tag}-A",
        {"case_id": f"{tag}-A", "role": "victim", "person": {"name": "司马光明"}},
    )
    await wait_caught_up(
        db, "hub.internal.streams", await publish(producer, [resident]), main_worker
    )
    await publish(producer, [typo])
    pid = (await api.get("/v1/persons", params={"national_id": nid}, headers=CC)).json()["items"][
        0
    ]["person_id"]
    deadline = time.monotonic() + 60
    items: list = []
    while not items and time.monotonic() < deadline:
        items = (await api.get(f"/v1/persons/{pid}/candidates", headers=CC)).json()["items"]
        await asyncio.sleep(0.2)
    assert len(items) == 1, main_worker.tail()
    cand = items[0]
    assert cand["evidence"]["levels"] == {"name": "exact"}
    assert 0.5 <= cand["score"] < 0.99

    url = f"/v1/persons/candidates/{cand['decision_id']}/confirm"
    r = await api.post(url, headers=CC)  # a command-center reader may not decide who is who
    assert r.status_code == 403
    r = await api.post(url, headers=INVESTIGATOR)

    assert r.status_code == 202 and r.json()["action"] == "link"
    police = {"agency": "police", "kind": "case-party", "id": f"{tag}-A/victim/{tag}-inv"}
    deadline = time.monotonic() + 60
    person: dict = {}
    while police not in _refs(person) and time.monotonic() < deadline:
        person = (await api.get(f"/v1/persons/{pid}", headers=CC)).json()
        await asyncio.sleep(0.2)
    assert police in _refs(person)
    row = await db.fetchrow(
        "SELECT decided_by, evidence FROM resolution_decision WHERE decision_id = $1",
        r.json()["decision_id"],
    )
    assert row["decided_by"] == "user:officer-9"
    # decided stays decided: deciding it again is refused, not applied
    again = await api.post(url.replace("/confirm", "/reject"), headers=INVESTIGATOR)
    assert again.status_code == 409, again.text
    assert row["evidence"]["candidate"] == cand["decision_id"]
    assert (await api.get(f"/v1/persons/{pid}/candidates", headers=CC)).json()["items"] == []


async def test_only_links_unlinks_and_rejects_move_edges_whatever_the_batch_cuts(
    hub: Settings,
) -> None:
    """Decisions read back from the log, applied set-based: a candidate (a person must still
    confirm it) never touches an edge, and a link then a reject of the same pair ends
    unlinked, in one batch or across batches."""
    a, b, c = "civil:resident:A", "city:case-party:B/reporter", "police:incident-party:C/caller"
    t = datetime(2026, 11, 23, tzinfo=UTC)
    log = [
        Decision("link", a, b, 0.9, {"name": "x"}, "resolver/v1", t),
        Decision("candidate", b, a, 0.5, {"name": "x"}, "resolver/v1", t),
        Decision("link", a, c, 0.9, {"name": "x"}, "resolver/v1", t),
        Decision("candidate", c, a, 0.5, {"name": "x"}, "resolver/v1", t),
        Decision("reject", a, c, 1.0, {}, "user:duty-officer-7", t),
    ]
    topic = "hub.internal.test.resolution"
    records = [
        InboundRecord(topic, 0, i, d.a.encode(), orjson.dumps(d.event())) for i, d in enumerate(log)
    ]
    results = []
    for cuts in ([5], [1, 1, 1, 1, 1], [2, 3]):
        url = await new_database(hub, unique("edges").replace("-", "_"))
        pool = await create_pool(url, max_size=2, custom_plans=True)
        try:
            store = Store(pool, "test", hub.agencies)
            i = 0
            for n in cuts:
                await store.apply_batch(records[i : i + n])
                i += n
            results.append(
                sorted(tuple(r) for r in await pool.fetch("SELECT src, dst FROM person_edge"))
            )
        finally:
            await pool.close()
    assert results[0] == sorted([(a, b), (b, a)])  # the link stands; the rejected one is gone
    assert results[1] == results[0] and results[2] == results[0]


def _refs(person: dict) -> list[dict]:
    """The records a person was resolved from, as refs (without the thread they are in)."""
    return [{k: r[k] for k in ("agency", "kind", "id")} for r in person.get("records", [])]
