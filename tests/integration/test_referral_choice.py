"""A 110 call referred to the city is one matter with one city case (分流), even when two city
cases open at that address within the referral's window: the one that fits best joins the
call (a party in common, then the nearest to the referral), the other stays a thread of its
own, whatever order the records arrive in and however they are cut into batches. Found by
bench/coordination.py on a 50,000-event city: a noise complaint filed the same evening at
the caller's room joined the dispute's thread, and the dispute's clock ran from the wrong
report."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from bench.order import RESOLUTION, apply_in_order, outcome
from hub.config import Settings
from hub.sim import story
from projections.db import create_pool
from projections.decide import Decision
from projections.intake import InboundRecord
from projections.referrals import DIVERTED_BEFORE_HOURS
from projections.store import Store
from tests.integration.conftest import new_database, unique

SH = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 4, 26, 17, 48, tzinfo=SH)


def _story(tag: str, *, shared_with_noise: bool = False) -> tuple[list[dict[str, Any]], str]:
    addr = {
        "text": f"北京市朝阳区望京街道将台路{int(tag[-4:], 16) % 900 + 100}号1号楼2单元103室",
        "grid": "11010500100101",
    }
    caller = {"name": "魏磊伟", "national_id": "110105195710128574", "phone": "18416850627"}
    inc, dispute, noise = f"J-{tag}", f"CD-{tag}", f"CN-{tag}"
    ev = story.event
    events = [
        ev(
            "police",
            "police.incident.reported",
            f"{tag}-1",
            T,
            inc,
            {
                "incident_id": inc,
                "category": "dispute",
                "summary": "110报警：邻里纠纷",
                "address": addr,
                "caller": caller,
            },
        ),
        ev(
            "police",
            "police.incident.referred",
            f"{tag}-2",
            T + timedelta(minutes=30),
            inc,
            {"incident_id": inc, "to_agency": "city", "reason": "邻里纠纷，转网格调解"},
        ),
        # the referred dispute, opened half an hour after the referral
        ev(
            "city",
            "city.case.reported",
            f"{tag}-3",
            T + timedelta(hours=1),
            dispute,
            {
                "case_id": dispute,
                "category": "neighbour-dispute",
                "description": "纠纷",
                "channel": "hotline",
                "address": addr,
                "persons": [{"role": "party", "person": {"name": "马敏", "phone": "17971971709"}}],
            },
        ),
        # another matter at the same room the same evening: a noise complaint
        ev(
            "city",
            "city.case.reported",
            f"{tag}-4",
            T + timedelta(hours=14),
            noise,
            {
                "case_id": noise,
                "category": "noise",
                "description": "噪音",
                "channel": "video",
                "address": addr,
            }
            | ({"persons": [{"role": "party", "person": caller}]} if shared_with_noise else {}),
        ),
    ]
    return events, inc


def _records(events: list[dict[str, Any]], order: list[int]) -> list[InboundRecord]:
    offsets: dict[str, int] = {}
    out = []
    for i in order:
        e = events[i]
        topic = f"agency.{e['agency']}"
        offsets[topic] = offsets.get(topic, -1) + 1
        out.append(InboundRecord(topic, 0, offsets[topic], e["subject"].encode(), orjson.dumps(e)))
    return out


def _orders(n: int) -> list[list[int]]:
    """Time order, the noise complaint first, the call's report published last (after its
    referral and both city cases: an agency publishing late), and a few shuffles."""
    out = [list(range(n)), [3, 2, 0, 1], [3, 0, 1, 2], [2, 3, 0, 1], [1, 2, 3, 0], [1, 3, 2, 0]]
    rnd = random.Random(3)
    for _ in range(3):
        order = list(range(n))
        rnd.shuffle(order)
        out.append(order)
    return out


async def _one_by_one(store: Store, records: list[InboundRecord]) -> None:
    """Each record its own batch, the decisions fed back in the next one (as the workers
    read them back from the log)."""
    pending: list[Decision] = []
    offset = 0

    async def sink(ds: Sequence[Decision]) -> None:
        pending.extend(ds)

    todo = list(records)
    while todo or pending:
        feedback = [
            InboundRecord(RESOLUTION, 0, offset + i, None, orjson.dumps(d.event()))
            for i, d in enumerate(pending)
        ]
        offset += len(pending)
        pending.clear()
        await store.apply_batch(feedback + todo[:1], decisions=sink)
        todo = todo[1:]


async def _threads(hub: Settings, events: list[dict[str, Any]], order: list[int], k: int) -> Any:
    """Apply the events in this order (each record its own batch, or random batch cuts;
    decisions fed back): the thread of each agency record id, and the outcome to compare
    across orders."""
    url = await new_database(hub, unique(f"ref_{k}").replace("-", "_"))
    pool = await create_pool(url, max_size=2, custom_plans=True)
    try:
        store = Store(pool, "ref", hub.agencies)
        if k % 2:
            await apply_in_order(store, _records(events, order), random.Random(k))
        else:
            await _one_by_one(store, _records(events, order))
        rows = await pool.fetch(
            "SELECT rl.record_id, t.case_id, t.thread_id FROM record_link rl"
            " JOIN case_thread t ON t.case_id = rl.entity_id WHERE rl.entity_kind = 'case'"
        )
        got = await outcome(pool, [], sorted(r["case_id"] for r in rows))
    finally:
        await pool.close()
    return {r["record_id"]: r["thread_id"] for r in rows}, got


@pytest.mark.parametrize("shared", [False, True], ids=["by-time", "party-in-common"])
async def test_a_referral_joins_one_city_case_in_any_order(hub: Settings, shared: bool) -> None:
    tag = unique("ref")
    events, inc = _story(tag, shared_with_noise=shared)
    want_with = f"CN-{tag}" if shared else f"CD-{tag}"  # a party in common outranks time
    want_alone = f"CD-{tag}" if shared else f"CN-{tag}"
    seen = set()
    for k, order in enumerate(o for o in _orders(len(events)) for _ in (0, 1)):
        thread, got = await _threads(hub, events, order, k)
        seen.add(got)
        assert thread[inc] == thread[want_with], (order, thread)
        assert thread[want_alone] != thread[inc], (order, thread)
    assert len(seen) == 1


@pytest.mark.parametrize("category", ["dispute", "theft", "noise"])
async def test_a_call_the_rules_divert_joins_the_city_case_that_follows(
    hub: Settings, category: str
) -> None:
    """Given a 110 call of a category the shipped rules divert to the city (a dispute; not
    a theft) and no referral event, when the city opens a case at the caller's address 25
    minutes later, then the call and the case are one thread, in any order; a theft call
    stays apart from it, and so does a noise call (the rules make a noise call a noise case,
    not this neighbour dispute)."""
    tag = unique("div")
    events, inc = _story(tag)
    events = [e for e in events if e["type"] != "police.incident.referred"][:3]
    events[0]["data"]["category"] = category
    events[1]["time"] = (T + timedelta(minutes=25)).isoformat()
    for k, order in enumerate([[0, 1], [0, 1], [1, 0], [1, 0]]):
        thread, _ = await _threads(hub, events[:2], order, k)
        joined = thread[inc] == thread[f"CD-{tag}"]
        assert joined == (category == "dispute"), (order, thread)


@pytest.mark.parametrize("before", [20, 150])
async def test_a_call_the_rules_divert_joins_the_city_case_just_before_it(
    hub: Settings, before: int
) -> None:
    """Given a neighbour-dispute case the grid member reported at an address, when a citizen
    calls 110 about a dispute there (a category the rules divert to the city, no referral
    event) 20 minutes later, then the call and the case are one thread, in any order and
    batching; a case reported 2.5 hours before the call stays apart (most likely another
    matter: projections.referrals.DIVERTED_BEFORE_HOURS)."""
    tag = unique("first")
    events, inc = _story(tag)
    events = [e for e in events if e["type"] != "police.incident.referred"][:2]
    events[1]["time"] = (T - timedelta(minutes=before)).isoformat()
    for k, order in enumerate([[0, 1], [0, 1], [1, 0], [1, 0]]):
        thread, _ = await _threads(hub, events, order, k)
        joined = thread[inc] == thread[f"CD-{tag}"]
        assert joined == (before < DIVERTED_BEFORE_HOURS * 60), (order, thread)


async def test_a_referral_joins_a_case_written_as_building_unit_and_room(hub: Settings) -> None:
    """Given a referred call at a full address, when the grid member writes the city case's
    address as building, unit and room only (same grid), then the case joins the call; a
    noise complaint in another room of the grid stays apart."""
    tag = unique("room")
    events, inc = _story(tag)
    events[2]["data"]["address"] = {"text": "1号楼2单元103室", "grid": "11010500100101"}
    events[3]["data"]["address"] = {"text": "1号楼2单元104室", "grid": "11010500100101"}
    events[3]["time"] = (T + timedelta(hours=2)).isoformat()
    # the same building, unit and room of another compound in the grid, written in full,
    # opened nearer the referral: another place, never the call's
    other = dict(events[2], id=f"{tag}-5", subject=f"CO-{tag}")
    other["time"] = (T + timedelta(minutes=40)).isoformat()
    other["data"] = dict(
        events[2]["data"],
        case_id=f"CO-{tag}",
        address={
            "text": "北京市朝阳区望京街道广顺北大街9号1号楼2单元103室",
            "grid": "11010500100101",
        },
    )
    events.append(other)
    orders = [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [2, 3, 4, 0, 1], [4, 3, 1, 2, 0]]
    for k, order in enumerate(orders):
        thread, _ = await _threads(hub, events, order, k)
        assert thread[inc] == thread[f"CD-{tag}"], (order, thread)
        assert thread[f"CN-{tag}"] != thread[inc], (order, thread)
        assert thread[f"CO-{tag}"] != thread[inc], (order, thread)
