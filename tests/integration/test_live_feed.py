"""The live feed (server-sent events): new cases, referrals and cases turning overdue reach
an open stream; a reconnect with Last-Event-ID resumes; rows committed out of order by
concurrent projector transactions are neither skipped nor repeated."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer

from hub.config import Settings
from hub.feed import LiveFeed
from hub.sim import story
from projections.db import create_pool
from tests.integration.conftest import CC, Worker, new_database, publish, unique


async def read_items(
    resp: httpx.Response, until: Any, timeout: float = 60.0
) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, event, data) of each frame until ``until(items)`` holds. The deadline guards
    against a hung stream; it is not a speed assertion."""
    items: list[tuple[str, str, dict[str, Any]]] = []
    buf = ""
    deadline = time.monotonic() + timeout
    lines = resp.aiter_lines()
    frame: dict[str, str] = {}
    while not until(items):
        left = deadline - time.monotonic()
        assert left > 0, f"feed did not deliver; got {items}"
        line = await asyncio.wait_for(anext(lines), left)
        if line == "":
            if "data" in frame:
                items.append(
                    (
                        frame.get("id", ""),
                        frame.get("event", "message"),
                        orjson.loads(frame["data"]),
                    )
                )
            frame = {}
        elif not line.startswith(":"):
            k, _, v = line.partition(":")
            frame[k] = v.removeprefix(" ")
        buf += line
    return items


def kinds_for(items: list[tuple[str, str, dict[str, Any]]], case_ids: set[str]) -> set[str]:
    return {f"{ev}:{d.get('type', '')}" for _, ev, d in items if d.get("case_id") in case_ids}


async def test_new_cases_referrals_and_overdue_arrive_on_an_open_stream_and_resume(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, main_worker: Worker
) -> None:
    tag = unique("live")
    grid = "96" + tag[-8:].encode().hex()[:12]
    home = {"text": "北京市朝阳区望京街道阜通东大街6号院3号楼2单元1201室", "grid": grid}
    t = story.EPOCH
    late, later = f"{tag}-LATE", f"{tag}-REF"
    events = [
        story.event(
            "city",
            "city.case.reported",
            f"{tag}-1",
            t,
            late,
            {
                "case_id": late,
                "category": "garbage",
                "description": "d",
                "channel": "grid-member",
                "address": home,
            },
        ),
        story.event(
            "city",
            "city.case.registered",
            f"{tag}-2",
            t + timedelta(minutes=5),
            late,
            {"case_id": late, "due_at": "2026-11-03T08:00:00+08:00"},
        ),
        story.event(
            "city",
            "city.case.reported",
            f"{tag}-3",
            t,
            later,
            {
                "case_id": later,
                "category": "neighbour-dispute",
                "description": "d",
                "channel": "grid-member",
                "address": home,
            },
        ),
        story.event(
            "city",
            "city.case.escalated",
            f"{tag}-4",
            t + timedelta(hours=1),
            later,
            {"case_id": later, "to_agency": "police", "reason": "threats"},
        ),
    ]
    async with api.stream("GET", "/v1/feed", headers=CC) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        await publish(producer, events)
        cases = (await api.get("/v1/cases", params={"grid": grid}, headers=CC)).json()
        want = {"case:city.case.reported", "overdue:", "referral:city.case.escalated"}
        while len(cases["items"]) < 2:  # the hub case ids, once the worker has the events
            await asyncio.sleep(0.1)
            cases = (await api.get("/v1/cases", params={"grid": grid}, headers=CC)).json()
        ids = {c["case_id"] for c in cases["items"]}
        items = await read_items(resp, lambda it: kinds_for(it, ids) >= want)
    mine = [i for i in items if i[2].get("case_id") in ids]
    overdue = [d for _, ev, d in mine if ev == "overdue"]
    assert len(overdue) == 1 and overdue[0]["grid"] == grid  # announced once
    # overdue by the hub's clock, as the case reads say, with the due instant it ran out at
    read = (await api.get(f"/v1/cases/{overdue[0]['case_id']}", headers=CC)).json()
    assert read["overdue"] is True and read["sla"]["level"] == "red"
    assert datetime.fromisoformat(overdue[0]["due_at"]) <= datetime.now(UTC)
    referral = next(d for _, ev, d in mine if ev == "referral")
    assert referral["to_agency"] == "police" and referral["category"] == "neighbour-dispute"
    assert {k for _, _, d in mine for k in d} <= {
        "case_id",
        "type",
        "agency",
        "time",
        "summary",
        "category",
        "grid",
        "sealed",
        "to_agency",
        "due_at",
        "stage",
    }, {k for _, _, d in mine for k in d}  # case facts only, never persons

    # Reconnect after the first of them: the rest come again from the buffer, not the first.
    first_id = mine[0][0]
    async with api.stream("GET", "/v1/feed", headers={**CC, "Last-Event-ID": first_id}) as r2:
        rest = await read_items(r2, lambda it: {i[0] for i in it} >= {i[0] for i in mine[1:]})
    assert first_id not in {i[0] for i in rest}

    denied = await api.get("/v1/feed")
    assert denied.status_code == 401


async def test_rows_committed_out_of_order_are_each_seen_once(hub: Settings) -> None:
    url = await new_database(hub, unique("feedorder").replace("-", "_"))
    pool = await create_pool(url, max_size=3)  # the API's pool, with its JSON codecs
    try:
        live = LiveFeed(pool)
        await live.tick()  # starts from now

        async def insert(conn: asyncpg.Connection, rid: str) -> None:
            await conn.execute(
                "INSERT INTO record_link (agency, kind, record_id, entity_kind, entity_id)"
                " VALUES ('city', 'case', $1, 'case', 'C-' || $1)",
                rid,
            )
            await conn.execute(
                "INSERT INTO event_archive (source, event_id, type, agency, time, subject, topic,"
                " partition, \"offset\", version, data, summary) VALUES ('s', $1,"
                " 'city.case.reported', 'city', now(), $1, 't', 0, 0, 1, $2::jsonb, 'new')",
                rid,
                {"case_id": rid},
            )

        a, b = await pool.acquire(), await pool.acquire()
        try:
            ta, tb = a.transaction(), b.transaction()
            await ta.start()
            await tb.start()
            await insert(a, "A")  # A takes its transaction id first …
            await insert(b, "B")
            await tb.commit()  # … but B commits first
            seen = [i.data["case_id"] for i in await live.tick()]
            assert seen == []  # B waits until A, which may still write below it, is done
            await ta.commit()
            seen = [i.data["case_id"] for i in await live.tick()]
            assert sorted(seen) == ["C-A", "C-B"]
            assert await live.tick() == []  # and never again
        finally:
            await pool.release(a)
            await pool.release(b)
        # A due time passing between two ticks announces the case once.
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO entity_field (entity_kind, entity_id, field, value, time, source,"
                " event_id, agency) VALUES ('case', 'C-A', 'due_at', to_jsonb($1::text), now(),"
                " 's', 'A', 'city')",
                (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
            )
        assert await live.tick(datetime.now(UTC)) == []
        later = datetime.now(UTC) + timedelta(minutes=2)
        announced = await live.tick(later)
        assert [(i.kind, i.data["case_id"]) for i in announced] == [("overdue", "C-A")]
        assert await live.tick(later + timedelta(minutes=1)) == []
    finally:
        await pool.close()
