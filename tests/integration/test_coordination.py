"""Coordination on the real stack: the four coordination types through the broker and a
real worker into the read model, and the clock on case reads and grid boards."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from hub.sim import story
from projections.coordination.rules import load_rules
from projections.ids import hub_id
from tests.integration.conftest import CC, Worker, publish, unique, wait_caught_up

SH = ZoneInfo("Asia/Shanghai")
RULES = load_rules()
LONG_AGO = datetime(2026, 3, 3, 9, 0, tzinfo=SH)  # a Tuesday, long before any test runs
FAR_AHEAD = datetime(2099, 3, 3, 9, 0, tzinfo=SH)  # a report whose clock has not started


def _city(tag: str, case: str, etype: str, n: int, at: datetime, **data: Any) -> dict[str, Any]:
    return story.event("city", etype, f"{tag}-{case}-{n}", at, case, {"case_id": case, **data})


def _reported(tag: str, case: str, at: datetime, grid: str, **data: Any) -> dict[str, Any]:
    """A garbage case reported in ``grid`` (by a grid member unless ``data`` says otherwise)."""
    return _city(
        tag,
        case,
        "city.case.reported",
        0,
        at,
        **{
            "category": "garbage",
            "description": "楼道堆放杂物",
            "channel": "grid-member",
            "address": {"text": "朝阳区望京街道阜通东大街6号", "grid": grid},
            **data,
        },
    )


async def test_returns_extensions_and_dissatisfied_follow_ups_on_case_reads(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    """Given a garbage case returned three times, one closed and reopened by a dissatisfied
    citizen, and one reported for a time still ahead, when the command center reads them,
    then each carries its clock: red and three returns, red with one rework, green."""
    tag = unique("coord")
    grid = "97" + tag[-8:].encode().hex()[:12]
    bounced, reopened, fresh = f"{tag}-B", f"{tag}-R", f"{tag}-F"
    due = "2026-03-10T17:30:00+08:00"
    t = LONG_AGO
    events = [_reported(tag, bounced, t, grid), _reported(tag, reopened, t, grid)]
    for case in (bounced, reopened):
        events += [
            _city(tag, case, "city.case.registered", 1, t + timedelta(minutes=20), due_at=due),
            _city(
                tag,
                case,
                "city.case.dispatched",
                2,
                t + timedelta(minutes=40),
                department="环卫所",
                due_at=due,
            ),
        ]
    events += [
        _city(
            tag,
            bounced,
            "city.case.returned",
            3 + i,
            t + timedelta(hours=1 + i),
            by_department=dept,
            reason="不属于本单位职责",
        )
        for i, dept in enumerate(("物业", "环卫所", "物业"))
    ]
    events += [
        _city(
            tag,
            reopened,
            "city.case.extended",
            3,
            t + timedelta(hours=1),
            due_at="2026-03-06T17:30:00+08:00",
            reason="需协调产权单位",
            approved_by="区城市运行管理指挥中心",
        ),
        _city(tag, reopened, "city.case.handled", 4, t + timedelta(hours=2), result="已清运"),
        _city(tag, reopened, "city.case.verified", 5, t + timedelta(hours=3), passed=True),
        _city(tag, reopened, "city.case.closed", 6, t + timedelta(hours=4), outcome="结案"),
        _city(
            tag,
            reopened,
            "city.feedback.recorded",
            7,
            t + timedelta(days=2),
            satisfied=False,
            channel="phone",
            comment="垃圾仍未清运",
        ),
        _reported(tag, fresh, FAR_AHEAD, grid),
    ]
    ends = await publish(producer, events)
    await wait_caught_up(db, "hub.internal.streams", ends, main_worker)

    found = (await api.get("/v1/cases", params={"grid": grid}, headers=CC)).json()["items"]
    by_id = {c["case_id"]: c for c in found}
    assert len(by_id) == 3
    b = (await api.get(f"/v1/cases/{found[0]['case_id']}", headers=CC)).json()
    assert {"sla", "returns", "rework"} <= set(b)

    cases = {}
    for case in (bounced, reopened, fresh):
        one = (await api.get(f"/v1/cases/{_thread(case)}", headers=CC)).json()
        cases[case] = one
        listed = by_id[_thread(case)]
        assert (listed["sla"], listed["returns"], listed["rework"]) == (
            one["sla"],
            one["returns"],
            one["rework"],
        )
    cal = RULES.calendar
    b = cases[bounced]
    assert (b["returns"], b["rework"]) == (3, 0)
    assert b["sla"]["stage"] == "dispatch" and b["sla"]["level"] == "red"
    assert b["stage"] == "returned"
    r = cases[reopened]
    assert (r["returns"], r["rework"], r["status"], r["stage"]) == (0, 1, "open", "reopened")
    back = t + timedelta(days=2)
    assert r["sla"]["stage"] == "handle" and r["sla"]["level"] == "red"
    assert datetime.fromisoformat(r["sla"]["due_at"]) == cal.add_hours(back, 4)
    f = cases[fresh]
    assert f["sla"]["stage"] == "register" and f["sla"]["level"] == "green"
    assert (f["returns"], f["rework"]) == (0, 0)

    timeline = (await api.get(f"/v1/cases/{_thread(reopened)}/timeline", headers=CC)).json()
    summaries = [i["summary"] for i in timeline["items"]]
    assert any("extended to" in s for s in summaries)
    assert any("not satisfied (reopens a closed case)" in s for s in summaries)

    board = (await api.get(f"/v1/grids/{grid}", headers=CC)).json()
    assert board["sla"] == {"green": 1, "yellow": 0, "red": 2}
    listed_grids = (await api.get("/v1/grids", headers=CC)).json()["items"]
    assert next(g for g in listed_grids if g["grid"] == grid)["sla"] == board["sla"]


def _thread(case: str) -> str:
    return hub_id("C", f"city:case:{case}")
