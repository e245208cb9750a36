"""Coordination notices on the real stack (issue 13): raised once the clock says so, exactly
once per thread, stage, kind and level across sweeps, sweepers and restarts; archived; in
the case timeline with agency ``hub``; raised at start for what fell due while no worker ran;
never for a closed case."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.config import Settings
from hub.sim import story
from projections.coordination.due import SETTLE, sweep
from projections.coordination.notices import Notice
from projections.db import create_pool
from projections.intake import InboundRecord
from projections.store import Store
from schemas.notices import notice_event
from schemas.topics import COORDINATION_TOPIC
from tests.integration.conftest import CC, Worker, new_database, publish, unique, wait_caught_up
from tests.integration.test_coordination import FAR_AHEAD, LONG_AGO, RULES, _city, _reported
from tests.integration.test_live_feed import read_items

LADDER = Counter(
    {"hub.case.warned": 2, "hub.case.urged": 1, "hub.case.supervised": 1, "hub.case.raised": 1}
)


async def _until(what: Callable[[], Any], timeout: float = 120.0, why: str = "") -> Any:
    """Wait for a condition with a generous deadline (a guard against hangs, not a speed
    assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        got = await what()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached after {timeout}s: {why}")
        await asyncio.sleep(0.2)


def _records(events: list[dict[str, Any]]) -> list[InboundRecord]:
    return [
        InboundRecord("agency.city", 0, i, e["subject"].encode(), orjson.dumps(e))
        for i, e in enumerate(events)
    ]


def _closed(tag: str, case: str, grid: str) -> list[dict[str, Any]]:
    t = LONG_AGO
    steps = [
        ("city.case.registered", {"due_at": "2026-03-10T17:30:00+08:00"}),
        ("city.case.dispatched", {"department": "环卫所", "due_at": "2026-03-10T17:30:00+08:00"}),
        ("city.case.handled", {"result": "已清理"}),
        ("city.case.verified", {"passed": True}),
        ("city.case.closed", {"outcome": "已解决"}),
    ]
    return [_reported(tag, case, t, grid)] + [
        _city(tag, case, etype, n, t + timedelta(minutes=10 * n), **data)
        for n, (etype, data) in enumerate(steps, start=1)
    ]


async def _thread(conn: asyncpg.Pool, case: str) -> str:
    tid = await conn.fetchval(
        "SELECT t.thread_id FROM record_link l JOIN case_thread t ON t.case_id = l.entity_id"
        " WHERE l.agency = 'city' AND l.kind = 'case' AND l.record_id = $1",
        case,
    )
    assert tid, case
    return str(tid)


async def test_two_sweepers_raise_each_due_notice_once_and_never_early_or_for_closed(
    hub: Settings,
) -> None:
    """Given an overdue case, a closed case and one reported for a time still ahead, in a
    read model of their own, when two sweepers run at once and then again, then the overdue
    case's ladder is raised once in all, nothing for the closed case, nothing early for the
    future one, and its ladder once its time comes."""
    tag = unique("notice")
    grid = "98" + tag[-8:].encode().hex()[:12]
    late, done, ahead = f"{tag}-L", f"{tag}-D", f"{tag}-A"
    events = [_reported(tag, late, LONG_AGO, grid), *_closed(tag, done, grid)]
    events.append(_reported(tag, ahead, FAR_AHEAD, grid))
    dsn = await new_database(hub, "notices_" + tag[-8:])
    pool = await create_pool(dsn)
    try:
        store = Store(pool, "notice-test", hub.agencies, rules=RULES)
        res = await store.apply_batch(_records(events))
        assert res.accepted == len(events) and res.rejected == 0
        threads = {c: await _thread(pool, c) for c in (late, done, ahead)}
        sent: list[list[Notice]] = [[], []]

        def sink(i: int) -> Callable[[Sequence[Notice]], Any]:
            async def send(ns: Sequence[Notice]) -> None:
                await asyncio.sleep(0.05)  # as a broker's ack would: the other sweeper runs
                sent[i].extend(ns)

            return send

        now = datetime.now(UTC)
        a, b = await asyncio.gather(
            sweep(pool, RULES, sink(0), now, limit=1), sweep(pool, RULES, sink(1), now, limit=1)
        )
        assert a == sent[0] and b == sent[1]
        raised = a + b
        assert len({n.id for n in raised}) == len(raised)  # none twice
        assert {n.case_id for n in raised} == {threads[late]}  # none closed, none early
        assert Counter(n.type for n in raised) == LADDER
        assert all(n.due <= now for n in raised)
        assert await sweep(pool, RULES, sink(0), now) == []  # run again: nothing new
        claimed = await pool.fetchval(
            "SELECT count(*) FROM notice_claim WHERE thread_id = $1", threads[late]
        )
        assert claimed == len(raised)
        pending = dict(await pool.fetch("SELECT thread_id, due_at FROM thread_due"))
        assert pending[threads[done]] is None  # a closed thread is not in the sweep's index
        assert pending[threads[ahead]] > now
        assert pending[threads[late]] is None  # its whole ladder is raised
        # its time comes: the future case's ladder, once
        later = FAR_AHEAD + timedelta(days=60)
        first = await sweep(pool, RULES, sink(0), later)
        assert {n.case_id for n in first} == {threads[ahead]}
        assert Counter(n.type for n in first) == LADDER
        assert await sweep(pool, RULES, sink(1), later) == []
    finally:
        await pool.close()


async def _notices_on_topic(hub: Settings, producer: AIOKafkaProducer, subject: str) -> list[Any]:
    """Every notice on hub.coordination about ``subject``: the partition its key goes to,
    read up to a marker written after the notices (end offsets are not to be trusted)."""
    probe = notice_event(
        unique("N-marker"),
        "hub.referral.routed",
        unique("marker"),
        datetime.now(UTC).isoformat(),
        {"case_id": "marker", "to_agency": "city", "rule": RULES.cite},
    )
    md = await producer.send_and_wait(COORDINATION_TOPIC, orjson.dumps(probe), key=subject.encode())
    consumer = AIOKafkaConsumer(
        bootstrap_servers=hub.require_kafka(), enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        tp = TopicPartition(COORDINATION_TOPIC, md.partition)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        out: list[Any] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=500)
            for rec in batch.get(tp, []):
                if rec.offset >= md.offset:
                    return out
                ev = orjson.loads(rec.value)
                if ev["subject"] == subject:
                    out.append(ev)
        raise AssertionError("the marker never came back")
    finally:
        await consumer.stop()


async def test_an_overdue_case_raises_its_ladder_once_into_archive_timeline_and_topic(
    api: httpx.AsyncClient,
    hub: Settings,
    producer: AIOKafkaProducer,
    db: asyncpg.Pool,
    main_worker: Worker,
) -> None:
    """Given a case reported long ago and never registered, when the worker sweeps (and a
    second sweeper in this process sweeps with it), then its ladder is on hub.coordination
    once per notice, archived, and in its timeline with agency hub."""
    tag = unique("notice")
    grid = "99" + tag[-8:].encode().hex()[:12]
    case = f"{tag}-O"
    ends = await publish(producer, [_reported(tag, case, LONG_AGO, grid)])
    await wait_caught_up(db, hub.streams_app_id, ends, main_worker)
    tid = await _thread(db, case)

    async def send(ns: Sequence[Notice]) -> None:
        fs = [
            await producer.send(
                COORDINATION_TOPIC,
                orjson.dumps(notice_event(n.id, n.type, n.case_id, n.due.isoformat(), n.data)),
                key=n.case_id.encode(),
            )
            for n in ns
        ]
        for f in fs:
            await f

    await sweep(db, RULES, send)  # races the worker's own sweeper

    async def archived() -> list[asyncpg.Record]:
        rows = await db.fetch(
            "SELECT event_id, type, agency, source, data FROM event_archive"
            " WHERE subject = $1 AND agency = 'hub'",
            tid,
        )
        return rows if len(rows) >= sum(LADDER.values()) else []

    rows = await _until(archived, why="the ladder archived")
    assert Counter(r["type"] for r in rows) == LADDER
    assert {r["source"] for r in rows} == {"/hub/coordination"}
    assert all(r["data"]["case_id"] == tid and r["data"]["rule"] == RULES.cite for r in rows)
    on_topic = await _notices_on_topic(hub, producer, tid)
    assert sorted(e["id"] for e in on_topic) == sorted(r["event_id"] for r in rows)  # once
    timeline = (await api.get(f"/v1/cases/{tid}/timeline", headers=CC)).json()["items"]
    hub_items = [i for i in timeline if i["agency"] == "hub"]
    assert Counter(i["type"] for i in hub_items) == LADDER
    assert all(i["summary"].startswith("hub: ") for i in hub_items)


async def test_a_notice_due_while_no_worker_ran_is_raised_at_start(
    hub: Settings, start_worker: Callable[..., Worker]
) -> None:
    """Given a read model that projected an overdue case and then stopped (no worker ran
    while its notices fell due), when a worker starts on it, then it raises them."""
    tag = unique("notice")
    grid = "96" + tag[-8:].encode().hex()[:12]
    case = f"{tag}-S"
    dsn = await new_database(hub, "notices_" + tag[-8:])
    pool = await create_pool(dsn)
    worker: Worker | None = None
    try:
        store = Store(pool, "before-the-outage", hub.agencies, rules=RULES)
        await store.apply_batch(_records([_reported(tag, case, LONG_AGO, grid)]))
        tid = await _thread(pool, case)
        assert await pool.fetchval("SELECT count(*) FROM notice_claim") == 0
        worker = start_worker(dsn, app_id=f"hub.internal.{tag}")

        async def raised() -> int:
            if worker is not None and worker.proc.poll() is not None:
                raise AssertionError(f"worker exited:\n{worker.tail()}")
            n = await pool.fetchval(
                "SELECT count(*) FROM event_archive WHERE subject = $1 AND agency = 'hub'", tid
            )
            return n >= sum(LADDER.values())

        await _until(raised, 180, "the notices raised at start")
        claims = await pool.fetch("SELECT type FROM notice_claim WHERE thread_id = $1", tid)
        assert Counter(r["type"] for r in claims) == LADDER
    finally:
        if worker is not None:
            worker.stop()
        await pool.close()


async def test_a_notice_falling_due_now_is_on_the_live_feed(
    api: httpx.AsyncClient,
    hub: Settings,
    producer: AIOKafkaProducer,
    db: asyncpg.Pool,
    main_worker: Worker,
) -> None:
    """Given a court mediation whose limit runs out in a few seconds, when its warnings fall
    due, then the live feed shows them, once, as the hub's (a backlog that fell due long
    ago is in the timeline, not the feed: the overdue case above)."""
    tag = unique("notice")
    case = f"{tag}-M"
    now = datetime.now(UTC)
    event = story.event(
        "court",
        "court.mediation.assigned",
        f"{tag}-m",
        now - timedelta(seconds=100),
        case,
        {
            "case_id": case,
            "mediator": "人民调解员",
            "due_at": (now + timedelta(seconds=20)).isoformat(),
        },
    )
    want = Counter({"hub.case.warned": 2, "hub.case.urged": 1})
    async with api.stream("GET", "/v1/feed", headers=CC) as resp:
        ends = await publish(producer, [event])
        await wait_caught_up(db, hub.streams_app_id, ends, main_worker)
        tid = await db.fetchval(
            "SELECT t.thread_id FROM record_link l JOIN case_thread t ON t.case_id = l.entity_id"
            " WHERE l.agency = 'court' AND l.kind = 'case' AND l.record_id = $1",
            case,
        )

        def shown(items: list[tuple[str, str, dict[str, Any]]]) -> Counter[str]:
            return Counter(
                t
                for _, ev, d in items
                if ev == "notice" and d.get("case_id") == tid
                for t in d["types"]
            )

        items = await read_items(resp, lambda it: shown(it) >= want, timeout=120)
    assert shown(items) == want
    mine = [d for _, ev, d in items if ev == "notice" and d["case_id"] == tid]
    assert {d["agency"] for d in mine} == {"hub"}


async def test_a_thread_renamed_by_an_older_record_raises_nothing_twice(hub: Settings) -> None:
    """Given an overdue city case whose ladder was raised, when an older police case that
    cites it joins its thread (the thread then takes the police case's id, the oldest node)
    and the sweepers run again, at once, then no notice is raised a second time under the
    new id; and what falls due later (the case reopened) is raised once, under the new id."""
    tag = unique("rename")
    grid = "98" + tag[-8:].encode().hex()[:12]
    case, police = f"{tag}-C", f"{tag}-P"
    dsn = await new_database(hub, "notices_" + tag[-8:])
    pool = await create_pool(dsn)
    try:
        store = Store(pool, "rename-test", hub.agencies, rules=RULES)
        await store.apply_batch(_records([_reported(tag, case, LONG_AGO, grid)]))
        first_id = await _thread(pool, case)
        now = datetime.now(UTC)
        raised = await sweep(pool, RULES, _keep([]), now)
        assert Counter(n.type for n in raised) == LADDER
        assert {n.case_id for n in raised} == {first_id}

        older = story.event(
            "police",
            "police.case.opened",
            f"{tag}-p0",
            LONG_AGO - timedelta(days=1),
            police,
            {
                "case_id": police,
                "offence": "寻衅滋事",
                "refs": [{"agency": "city", "kind": "case", "id": case}],
            },
        )
        reopened = _city(tag, case, "city.case.verified", 1, LONG_AGO + timedelta(hours=1))
        reopened["data"]["passed"] = False
        res = await store.apply_batch(
            [InboundRecord("agency.police", 0, 0, police.encode(), orjson.dumps(older))]
        )
        assert res.accepted == 1
        renamed = await _thread(pool, case)
        assert renamed != first_id  # the older node names the thread now
        again = await asyncio.gather(*(sweep(pool, RULES, _keep([]), now) for _ in range(2)))
        assert again == [[], []], [n.type for ns in again for n in ns]

        # a reopening starts a new round of the clock: its ladder once, under the new id
        await store.apply_batch(
            [InboundRecord("agency.city", 0, 5, case.encode(), orjson.dumps(reopened))]
        )
        later = await asyncio.gather(*(sweep(pool, RULES, _keep([]), now) for _ in range(2)))
        fresh = [n for ns in later for n in ns]
        assert {n.case_id for n in fresh} == {renamed}
        assert len({n.id for n in fresh}) == len(fresh)
        assert Counter(n.type for n in fresh) == LADDER
    finally:
        await pool.close()


def _keep(into: list[Notice]) -> Callable[[Sequence[Notice]], Any]:
    async def send(ns: Sequence[Notice]) -> None:
        await asyncio.sleep(0.05)  # as a broker's ack would: the other sweeper runs
        into.extend(ns)

    return send


def _court(tag: str, case: str, etype: str, n: int, at: datetime, **data: Any) -> dict[str, Any]:
    return story.event("court", etype, f"{tag}-{case}-{n}", at, case, {"case_id": case, **data})


async def test_a_mediation_joined_to_a_city_case_raises_its_ladder_in_either_order(
    hub: Settings,
) -> None:
    """Given two city cases each cited by a court mediation due ten days after its report,
    one whose mediation arrives first (P13-MD2), one whose city case arrives first (P13-MD4),
    when the sweepers run at 90 % of the mediation and then after its due instant, then each
    thread raises the mediation's yellow, then its red and the court urged at the due
    instant, once, every notice raised after the two joined naming the thread's case_id (the
    city case, the oldest node), also when the thread was the court case's alone before."""
    tag = unique("mediate")
    grid = "98" + tag[-8:].encode().hex()[:12]
    early, late = f"{tag}-M2", f"{tag}-M4"  # the court's record first / the city's first
    assigned = LONG_AGO + timedelta(hours=1)
    due = datetime(2026, 3, 13, 10, 0, tzinfo=LONG_AGO.tzinfo)
    cal = RULES.calendar
    yellow_at = cal.add(assigned, cal.between(assigned, due) * RULES.yellow_at)

    def city(case: str) -> list[dict[str, Any]]:
        d = "2026-03-20T17:30:00+08:00"
        return [
            _reported(tag, case, LONG_AGO, grid),
            _city(tag, case, "city.case.registered", 1, LONG_AGO + timedelta(minutes=10), due_at=d),
            _city(
                tag,
                case,
                "city.case.dispatched",
                2,
                LONG_AGO + timedelta(minutes=20),
                department="街道综治中心",
                due_at=d,
            ),
        ]

    def court(case: str) -> dict[str, Any]:
        ref = {"agency": "city", "kind": "case", "id": case}
        return _court(
            tag,
            f"{case}-CT",
            "court.mediation.assigned",
            3,
            assigned,
            mediator="人民调解员",
            due_at=due.isoformat(),
            refs=[ref],
        )

    def rec(e: dict[str, Any], n: int) -> InboundRecord:
        topic = "agency.court" if e["agency"] == "court" else "agency.city"
        return InboundRecord(topic, 0, n, e["subject"].encode(), orjson.dumps(e))

    dsn = await new_database(hub, "notices_" + tag[-8:])
    pool = await create_pool(dsn)
    try:
        store = Store(pool, "mediation-test", hub.agencies, rules=RULES)
        await store.apply_batch([rec(court(early), 0)])
        got: list[Notice] = []
        first = await sweep(pool, RULES, _keep(got), yellow_at + timedelta(minutes=1))
        # the court's record alone: its yellow under its own id (raised before the join)
        assert [(n.type, n.data.get("level")) for n in first] == [("hub.case.warned", "yellow")]
        await store.apply_batch([rec(e, 1 + i) for i, e in enumerate(city(late))])
        await store.apply_batch([rec(court(late), 10)])
        await store.apply_batch([rec(e, 11 + i) for i, e in enumerate(city(early))])
        threads = {c: await _thread(pool, c) for c in (early, late)}
        assert first[0].case_id != threads[early]  # the thread was renamed since
        second = await sweep(pool, RULES, _keep(got), yellow_at + timedelta(minutes=2))
        assert [(n.case_id, n.data.get("level")) for n in second] == [(threads[late], "yellow")]
        assert await sweep(pool, RULES, _keep(got), due - timedelta(minutes=1)) == []
        third = await sweep(pool, RULES, _keep(got), due)
        for case in (early, late):
            mine = Counter(
                (n.type, n.data.get("level"), n.data.get("to_agency"))
                for n in third
                if n.case_id == threads[case]
            )
            assert mine == Counter(
                {("hub.case.warned", "red", None): 1, ("hub.case.urged", None, "court"): 1}
            ), case
        assert all(n.data["stage"] == "mediate" and n.due == due for n in third)
        assert {n.case_id for n in third} == set(threads.values())
        after = await asyncio.gather(*(sweep(pool, RULES, _keep([]), due) for _ in range(2)))
        assert after == [[], []]
    finally:
        await pool.close()


async def test_a_matter_published_in_quick_batches_is_read_whole_before_its_notices(
    hub: Settings,
) -> None:
    """Given a case closed on time long ago whose report comes in one batch and the rest of
    its history in the next (an agency sending its past in batches, an outside probe's
    finding), when the wall-clock sweep runs between the two, then it leaves the thread
    alone while it has not been quiet for its settle time (by the database's clock; an hour
    here, so that the test does not race the clock) and nothing is raised for the case, not
    the registration the first batch alone would call late; a report alone, once quiet
    long enough (no settle time), raises its ladder; the workers' default is ``SETTLE``."""
    tag = unique("settle")
    grid = "98" + tag[-8:].encode().hex()[:12]
    done, alone = f"{tag}-D", f"{tag}-A"
    history = _closed(tag, done, grid)
    dsn = await new_database(hub, "notices_" + tag[-8:])
    pool = await create_pool(dsn)
    hour, quiet = timedelta(hours=1), timedelta(0)

    def records(events: list[dict[str, Any]], first: int) -> list[InboundRecord]:
        return [
            InboundRecord("agency.city", 0, first + i, e["subject"].encode(), orjson.dumps(e))
            for i, e in enumerate(events)
        ]

    try:
        store = Store(pool, "settle-test", hub.agencies, rules=RULES)
        await store.apply_batch(records(history[:1], 0))
        got: list[Notice] = []
        now = datetime.now(UTC)
        assert await sweep(pool, RULES, _keep(got), now, settle=hour) == []
        await store.apply_batch(records(history[1:], 1))
        assert await sweep(pool, RULES, _keep(got), now, settle=quiet) == []
        assert got == []

        await store.apply_batch(records([_reported(tag, alone, LONG_AGO, grid)], len(history)))
        lone = await _thread(pool, alone)
        assert await sweep(pool, RULES, _keep(got), now, settle=hour) == []
        raised = await sweep(pool, RULES, _keep(got), now, settle=quiet)
        assert Counter(n.type for n in raised) == LADDER
        assert {n.case_id for n in raised} == {lone}
        assert SETTLE > quiet
    finally:
        await pool.close()


async def test_one_batch_with_two_records_of_a_thread_keeps_one_due_row(hub: Settings) -> None:
    """Given a city case and a police case citing it in one batch (two nodes, one thread),
    when the batch is applied, then it is accepted whole and the thread has one due row
    (each touched thread once in the statement that stamps when it was touched)."""
    tag = unique("twonodes")
    grid = "98" + tag[-8:].encode().hex()[:12]
    case, police = f"{tag}-C", f"{tag}-P"
    opened = story.event(
        "police",
        "police.case.opened",
        f"{tag}-p0",
        LONG_AGO + timedelta(hours=3),
        police,
        {
            "case_id": police,
            "offence": "寻衅滋事",
            "refs": [{"agency": "city", "kind": "case", "id": case}],
        },
    )
    dsn = await new_database(hub, "notices_" + tag[-8:])
    pool = await create_pool(dsn)
    try:
        store = Store(pool, "two-nodes-test", hub.agencies, rules=RULES)
        res = await store.apply_batch(
            [
                InboundRecord(
                    "agency.city",
                    0,
                    0,
                    case.encode(),
                    orjson.dumps(_reported(tag, case, LONG_AGO, grid)),
                ),
                InboundRecord("agency.police", 0, 0, police.encode(), orjson.dumps(opened)),
            ]
        )
        assert (res.accepted, res.rejected) == (2, 0)
        tid = await _thread(pool, case)
        rows = await pool.fetch("SELECT thread_id, touched_at FROM thread_due")
        assert [r["thread_id"] for r in rows] == [tid] and rows[0]["touched_at"] is not None
    finally:
        await pool.close()
