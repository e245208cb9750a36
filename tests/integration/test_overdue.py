"""``overdue`` on the real stack: one rule in every read (the case, the case list and its
``overdue=true`` filter, the grid board, the grid list, the map, a person's cases), and it
agrees with the hub's clock (CONTRACT.md section 7): red is overdue, whatever an agency's
``due_at`` says; the agency's ``due_at`` decides only for a thread the hub keeps no clock
for."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from hub.sim.people import national_id
from tests.integration.conftest import CC, Worker, publish, unique, wait_caught_up
from tests.integration.test_coordination import FAR_AHEAD, LONG_AGO, _city, _reported, _thread


async def test_overdue_is_red_on_the_hubs_clock_in_every_read(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    """Given, in one grid, a case reported long ago and never registered (no agency due
    time; red on the hub's clock), a case whose agency due time passed but whose time limit
    an approved extension moved far ahead (green), and a fresh case, plus a registration
    whose report never arrived (no clock; its agency due time passed), when the command
    center reads them every way, then the never-registered case is overdue and the extended
    one is not, alike in the case read, the list, the overdue filter, the grid board, the
    grid list, the map and the reporter's cases; the clockless one is overdue by its
    agency's due time."""
    tag = unique("late")
    grid = "96" + tag[-8:].encode().hex()[:12]
    silent, extended, fresh, orphan = (f"{tag}-{x}" for x in ("S", "E", "F", "O"))
    nid = national_id(random.Random(tag), "110105", datetime(1980, 5, 1), female=True)
    reporter = {"national_id": nid, "name": "王秀兰", "phone": "13800000001"}

    def reported(case: str, at: datetime) -> dict[str, Any]:
        return _reported(tag, case, at, grid, channel="citizen", reporter=reporter)

    passed = "2026-03-10T17:30:00+08:00"
    events = [
        reported(silent, LONG_AGO),
        reported(extended, LONG_AGO),
        _city(
            tag,
            extended,
            "city.case.registered",
            1,
            LONG_AGO + timedelta(minutes=20),
            due_at=passed,
        ),
        _city(
            tag,
            extended,
            "city.case.extended",
            2,
            LONG_AGO + timedelta(hours=1),
            due_at=(datetime.now(UTC) + timedelta(days=300)).isoformat(),
            reason="需协调产权单位",
            approved_by="区城市运行管理指挥中心",
        ),
        reported(fresh, FAR_AHEAD),
        _city(tag, orphan, "city.case.registered", 1, LONG_AGO, due_at=passed),
    ]
    await wait_caught_up(db, "hub.internal.streams", await publish(producer, events), main_worker)

    # each case alone: overdue agrees with its clock
    alone = {}
    for case in (silent, extended, fresh, orphan):
        r = await api.get(f"/v1/cases/{_thread(case)}", headers=CC)
        assert r.status_code == 200, r.text
        alone[case] = r.json()
    assert alone[silent]["due_at"] is None and alone[silent]["sla"]["level"] == "red"
    assert alone[silent]["overdue"] is True
    assert alone[extended]["sla"]["level"] == "green"
    assert alone[extended]["overdue"] is False  # its agency due_at passed: the clock says no
    assert alone[fresh]["overdue"] is False
    assert alone[orphan]["sla"] is None and alone[orphan]["overdue"] is True  # no clock

    # the list: each case as it reads alone; the overdue filter agrees
    listed = (await api.get("/v1/cases", params={"grid": grid}, headers=CC)).json()["items"]
    assert {c["case_id"]: c["overdue"] for c in listed} == {
        _thread(c): alone[c]["overdue"] for c in (silent, extended, fresh)
    }
    late = await api.get("/v1/cases", params={"grid": grid, "overdue": "true"}, headers=CC)
    assert [c["case_id"] for c in late.json()["items"]] == [_thread(silent)]
    on_time = await api.get("/v1/cases", params={"grid": grid, "overdue": "false"}, headers=CC)
    assert {c["case_id"] for c in on_time.json()["items"]} == {_thread(extended), _thread(fresh)}

    # the grid board, the grid list and the map count the same, and overdue = red here
    board = (await api.get(f"/v1/grids/{grid}", headers=CC)).json()
    assert board["cases"] == {"open": 3, "overdue": 1, "closed": 0}
    assert board["overdue_case_ids"] == [_thread(silent)]
    assert board["sla"] == {"green": 2, "yellow": 0, "red": 1}
    row = next(
        g for g in (await api.get("/v1/grids", headers=CC)).json()["items"] if g["grid"] == grid
    )
    assert (row["open"], row["overdue"], row["sla"]) == (3, 1, board["sla"])
    fc = (await api.get("/v1/map/grids", headers=CC)).json()
    props = next(f["properties"] for f in fc["features"] if f["properties"]["grid"] == grid)
    assert (props["open"], props["overdue"], props["sla"]) == (3, 1, board["sla"])
    assert props["level"] == "red"

    # the reporter's cases carry the same overdue
    found = await api.get("/v1/persons", params={"national_id": nid}, headers=CC)
    (person,) = found.json()["items"]
    one = (await api.get(f"/v1/persons/{person['person_id']}", headers=CC)).json()
    for p in (person, one):
        flags = {c["case_id"]: c["overdue"] for c in p["cases"]}
        assert flags == {_thread(c): alone[c]["overdue"] for c in (silent, extended, fresh)}, flags

    # the OpenAPI document says what overdue means
    doc = (await api.get("/openapi.json")).json()
    described = doc["paths"]["/v1/cases/{case_id}"]["get"]["description"]
    assert "`sla.level` is `red`" in described and "agency's `due_at`" in described
