"""A room written as building, unit and room only ("1号楼2单元103室", as grid members write
it) is the same place as the grid's full address with that building, unit and room, in any
order of arrival and batching; with two full addresses of that room number in one grid (two
compounds), it stays a place of its own. Found by the outside town of issue 10
(bench/outside_town): such spellings were places apart (places F1 0.93 at 30 % noise)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bench.order import apply_in_order
from hub.config import Settings
from hub.sim import story
from projections.address import parse
from projections.db import create_pool
from projections.ids import hub_id
from projections.reads.cases import case
from projections.reads.persons import person
from projections.reads.places import place, places_in_grid
from projections.store import Store
from tests.integration.conftest import new_database, unique
from tests.integration.test_referral_choice import _one_by_one, _records

SH = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 5, 11, 9, 30, tzinfo=SH)
GRID = "11010500100107"
ROOM = "1号楼2单元103室"


def _events(tag: str, full: str) -> list[dict[str, Any]]:
    ev = story.event
    return [
        ev(
            "civil",
            "civil.resident.registered",
            f"{tag}-1",
            T,
            f"R-{tag}",
            {
                "resident_id": f"R-{tag}",
                "person": {"name": "卢秀英", "national_id": "110105196803124421"},
                "address": {"text": full, "grid": GRID},
                "household_id": f"H-{tag}",
            },
        ),
        ev(
            "city",
            "city.case.reported",
            f"{tag}-2",
            T + timedelta(days=3),
            f"C-{tag}",
            {
                "case_id": f"C-{tag}",
                "category": "garbage",
                "description": "楼道堆物",
                "channel": "grid-member",
                "address": {"text": ROOM, "grid": GRID},
            },
        ),
    ]


def _pid(text: str) -> str:
    return hub_id("PL", parse(text, GRID).key())


async def _applied(hub: Settings, events: list[dict[str, Any]], order: list[int], k: int) -> Any:
    url = await new_database(hub, unique(f"room_{k}").replace("-", "_"))
    pool = await create_pool(url, max_size=2, custom_plans=True)
    store = Store(pool, "room", hub.agencies)
    records = _records(events, order)
    if k % 2:
        await apply_in_order(store, records, random.Random(k))
    else:
        await _one_by_one(store, records)
    return pool


@pytest.mark.parametrize("order", [[0, 1], [1, 0]], ids=["resident-first", "case-first"])
async def test_a_room_written_alone_is_the_full_address_of_its_grid(
    hub: Settings, order: list[int]
) -> None:
    tag = unique("rm")
    full = f"北京市朝阳区望京街道广顺北大街{int(tag[-4:], 16) % 900 + 100}号1号楼2单元103室"
    events = _events(tag, full)
    for k in (0, 1):
        pool = await _applied(hub, [events[i] for i in order], [0, 1], k)
        try:
            whole, alone = _pid(full), _pid(ROOM)
            assert whole != alone  # two ids, read as one place
            for pid in (whole, alone):
                got = await place(pool, pid)
                assert got is not None
                assert got["place_id"] == whole and got["also_known_as"] == [alone]
                assert set(got["spellings"]) == {full, ROOM}
                assert got["address"]["road"].startswith("广顺北大街")
                assert len(got["residents"]) == 1 and len(got["cases"]) == 1
            assert await places_in_grid(pool, GRID, None, 20) == [whole]
            c = await case(pool, got["cases"][0], T)
            assert c is not None and [p["place_id"] for p in c["places"]] == [whole]
            p = await person(pool, got["residents"][0])
            assert p is not None and [a["place_id"] for a in p["addresses"]] == [whole]
        finally:
            await pool.close()


async def test_two_compounds_with_that_room_in_one_grid_keep_it_apart(hub: Settings) -> None:
    tag = unique("rm2")
    n = int(tag[-4:], 16) % 900 + 100
    full = f"北京市朝阳区望京街道广顺北大街{n}号1号楼2单元103室"
    other = f"北京市朝阳区望京街道广顺南大街{n}号1号楼2单元103室"
    events = _events(tag, full)
    second = dict(events[0], id=f"{tag}-3", subject=f"R2-{tag}")
    second["data"] = dict(
        events[0]["data"],
        resident_id=f"R2-{tag}",
        person={"name": "郑凯", "national_id": "110105197702035519"},
        address={"text": other, "grid": GRID},
    )
    events.append(second)
    for k, order in enumerate([[0, 1, 2], [1, 2, 0], [2, 1, 0], [0, 2, 1]]):
        pool = await _applied(hub, events, order, k)
        try:
            alone = await place(pool, _pid(ROOM))
            assert alone is not None and alone["place_id"] == _pid(ROOM)
            assert alone["also_known_as"] == [] and alone["residents"] == []
            for text in (full, other):
                got = await place(pool, _pid(text))
                assert got is not None and got["place_id"] == _pid(text)
                assert got["spellings"] == [text] and len(got["residents"]) == 1
            listed = await places_in_grid(pool, GRID, None, 20)
            assert sorted(listed) == sorted({_pid(ROOM), _pid(full), _pid(other)})
        finally:
            await pool.close()
