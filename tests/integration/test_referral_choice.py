"""A 110 call referred to the city is one matter with one city case (分流), even when two city
cases open at that address within the referral's window: the one that fits best joins the
call (a party in common, then the nearest to the referral), the other stays a thread of its
own, whatever order the records arrive in and however they are cut into batches. Found by
bench/coordination.py on a 50,000-event city: a noise complaint filed the same evening at
the caller's room joined the dispute's thread, and the dispute's clock ran from the wrong
report."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from bench.order import apply_in_order, outcome
from hub.config import Settings
from hub.sim import story
from projections.db import create_pool
from projections.intake import InboundRecord
from projections.store import Store
from tests.integration.conftest import new_database, unique

SH = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 4, 26, 17, 48, tzinfo=SH)


def _story(tag: str, *, shared_with_noise: bool = False) -> tuple[list[dict[str, Any]], str]:
    addr = {
        "text": f"北京市朝阳区望京街道将台路{tag[-4:]}号1号楼2单元103室",
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


def _orders(events: list[dict[str, Any]]) -> list[list[int]]:
    """Time order, the noise complaint first, and a few shuffles; each agency's records stay
    in their own order (one partition each)."""
    police = [i for i, e in enumerate(events) if e["agency"] == "police"]
    out = [list(range(len(events))), [3, 2, 0, 1], [3, 0, 1, 2], [2, 3, 0, 1]]
    rnd = random.Random(3)
    for _ in range(3):
        rest = [i for i in range(len(events)) if i not in police]
        rnd.shuffle(rest)
        merged, p = [], list(police)
        for i in rest:
            while p and rnd.random() < 0.5:
                merged.append(p.pop(0))
            merged.append(i)
        out.append(merged + p)
    return out


@pytest.mark.parametrize("shared", [False, True], ids=["by-time", "party-in-common"])
async def test_a_referral_joins_one_city_case_in_any_order(hub: Settings, shared: bool) -> None:
    tag = unique("ref")
    events, inc = _story(tag, shared_with_noise=shared)
    want_with = f"CN-{tag}" if shared else f"CD-{tag}"  # a party in common outranks time
    want_alone = f"CD-{tag}" if shared else f"CN-{tag}"
    seen = set()
    for k, order in enumerate(_orders(events)):
        url = await new_database(hub, unique(f"ref_{k}").replace("-", "_"))
        pool = await create_pool(url, max_size=2, custom_plans=True)
        try:
            store = Store(pool, "ref", hub.agencies)
            await apply_in_order(store, _records(events, order), random.Random(k))
            rows = await pool.fetch(
                "SELECT rl.record_id, t.case_id, t.thread_id FROM record_link rl"
                " JOIN case_thread t ON t.case_id = rl.entity_id WHERE rl.entity_kind = 'case'"
            )
            ids = {r["record_id"]: r["case_id"] for r in rows}
            thread = {r["case_id"]: r["thread_id"] for r in rows}
            got = await outcome(pool, [], sorted(thread))
        finally:
            await pool.close()
        seen.add(got)
        assert thread[ids[inc]] == thread[ids[want_with]], (order, thread)
        assert thread[ids[want_alone]] != thread[ids[inc]], (order, thread)
    assert len(seen) == 1
