"""One thread, one reading (issue 13, an outside tester's re-run of the coordination probe):
the case read, the case lists and their filters, the grid board, the grid list, the map, a
person's cases and the live feed state the same status, stage, ``sla`` and ``overdue`` of
a case closed without a passed verification, of a thread whose mediation settled while its
city case is open, and of a return, extension and follow-up of a case never reported (which
waits for its report, then reads as if everything had come in order)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from hub.feed import LiveFeed
from hub.sim import story
from hub.sim.people import national_id
from tests.integration.conftest import CC, Worker, publish, unique, wait_caught_up
from tests.integration.test_clock_closure import DUE, _through_handling
from tests.integration.test_coordination import (
    FAR_AHEAD,
    LONG_AGO,
    RULES,
    _city,
    _reported,
    _thread,
)

M = timedelta(minutes=1)


async def _published(
    producer: AIOKafkaProducer, db: asyncpg.Pool, worker: Worker, events: list[dict[str, Any]]
) -> None:
    await wait_caught_up(db, "hub.internal.streams", await publish(producer, events), worker)


async def _read(api: httpx.AsyncClient, path: str, **params: str) -> Any:
    r = await api.get(path, params=params, headers=CC)
    assert r.status_code == 200, r.text
    return r.json()


async def _listed(api: httpx.AsyncClient, **params: str) -> dict[str, dict[str, Any]]:
    return {c["case_id"]: c for c in (await _read(api, "/v1/cases", **params))["items"]}


async def _map_row(api: httpx.AsyncClient, grid: str) -> tuple[Any, ...]:
    row = next(g for g in (await _read(api, "/v1/grids"))["items"] if g["grid"] == grid)
    fc = await _read(api, "/v1/map/grids")
    props = next(f["properties"] for f in fc["features"] if f["properties"]["grid"] == grid)
    assert (props["open"], props["overdue"], props["closed"], props["sla"]) == (
        row["open"],
        row["overdue"],
        row["closed"],
        row["sla"],
    )
    return row["open"], row["overdue"], row["closed"], row["sla"]


async def test_a_close_without_a_passed_verification_reads_open_everywhere(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    """Given, in one grid, a case handled and closed by the city without a verification (U)
    and one verified before its close (V), both reported by one citizen long ago, when the
    command center reads them every way, then U is open, its stage the last one done
    (handled), its sla the verify stage, red, and overdue, in the case read, the lists and
    their status and overdue filters, the grid board, the grid list, the map, the
    reporter's cases and the live feed; V is closed and never overdue."""
    tag = unique("unverified")
    grid = "95" + tag[-8:].encode().hex()[:12]
    u, v = f"{tag}-U", f"{tag}-V"
    nid = national_id(random.Random(tag), "110105", datetime(1975, 2, 1), female=False)
    reporter = {"national_id": nid, "name": "赵建国", "phone": "13800000002"}
    t = LONG_AGO
    events = []
    for case in (u, v):
        first, *rest = _through_handling(tag, case, grid)
        first["data"].update(channel="citizen", reporter=reporter)
        events += [first, *rest]
    events += [
        _city(tag, u, "city.case.closed", 5, t + 90 * M, outcome="已办结"),
        _city(tag, v, "city.case.verified", 4, t + 80 * M, passed=True),
        _city(tag, v, "city.case.closed", 5, t + 90 * M, outcome="已办结"),
    ]
    live = LiveFeed(db, rules=RULES)
    await live.tick()  # the feed starts from now
    await _published(producer, db, main_worker, events)

    cu = await _read(api, f"/v1/cases/{_thread(u)}")
    assert (cu["status"], cu["stage"], cu["overdue"]) == ("open", "handled", True)
    assert (cu["sla"]["stage"], cu["sla"]["level"], cu["sla"]["agency"]) == (
        "verify",
        "red",
        "city",
    )
    cv = await _read(api, f"/v1/cases/{_thread(v)}")
    assert (cv["status"], cv["stage"], cv["overdue"]) == ("closed", "closed", False)
    assert cv["sla"]["stage"] == "closed"

    listed = await _listed(api, grid=grid)
    assert {k: (c["status"], c["overdue"], c["sla"]) for k, c in listed.items()} == {
        _thread(u): ("open", True, cu["sla"]),
        _thread(v): ("closed", False, cv["sla"]),
    }
    assert list(await _listed(api, grid=grid, status="open")) == [_thread(u)]
    assert list(await _listed(api, grid=grid, status="closed")) == [_thread(v)]
    assert list(await _listed(api, grid=grid, overdue="true")) == [_thread(u)]
    assert list(await _listed(api, grid=grid, stage="closed")) == [_thread(v)]
    # found by the stage it shows, not only the one its record states (from U's id on)
    handled = await _listed(api, stage="handled", limit="1", cursor=_thread(u)[:-1])
    assert list(handled) == [_thread(u)]

    board = await _read(api, f"/v1/grids/{grid}")
    assert board["cases"] == {"open": 1, "overdue": 1, "closed": 1}
    assert board["overdue_case_ids"] == [_thread(u)]
    assert board["sla"] == {"green": 0, "yellow": 0, "red": 1}
    assert await _map_row(api, grid) == (1, 1, 1, board["sla"])

    (person,) = (await _read(api, "/v1/persons", national_id=nid))["items"]
    flags = {c["case_id"]: c["overdue"] for c in person["cases"]}
    assert flags == {_thread(u): True, _thread(v): False}

    announced = {i.data["case_id"]: i.data for i in await live.tick() if i.kind == "overdue"}
    assert _thread(v) not in announced
    assert announced[_thread(u)]["stage"] == "handled"
    due = datetime.fromisoformat(announced[_thread(u)]["due_at"])
    assert due == datetime.fromisoformat(cu["sla"]["due_at"])

    doc = (await api.get("/openapi.json")).json()
    described = doc["paths"]["/v1/cases/{case_id}"]["get"]["description"]
    assert "closed without one reads `open`" in described


async def test_a_settled_mediation_leaves_the_city_case_timed_and_open(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    """Given a garbage case dispatched long ago and handed to the court's mediation, due far
    ahead, when it is read, then the mediation is timed (stage ``mediate``, held by the
    court, green, not overdue); when the mediation settles while the city case is still
    open, then the thread is open, not closed, and the city's handling stage is timed again
    (held by the city, red, overdue), alike on the case read, the lists and the grid board,
    until the city closes its case after a passed verification."""
    tag = unique("mediated")
    grid = "94" + tag[-8:].encode().hex()[:12]
    case, court = f"{tag}-C", f"{tag}-K"
    t = LONG_AGO
    ref = [{"agency": "city", "kind": "case", "id": case}]

    def court_event(etype: str, n: int, at: datetime, **data: Any) -> dict[str, Any]:
        return story.event("court", etype, f"{tag}-k{n}", at, court, {"case_id": court, **data})

    await _published(
        producer,
        db,
        main_worker,
        [
            *_through_handling(tag, case, grid)[:3],
            court_event(
                "court.mediation.assigned",
                1,
                t + 2 * timedelta(hours=1),
                mediator="人民调解委员会",
                due_at=FAR_AHEAD.isoformat(),
                refs=ref,
            ),
        ],
    )
    tid = _thread(case)
    during = await _read(api, f"/v1/cases/{tid}")
    assert during["status"] == "open" and during["overdue"] is False
    assert (during["sla"]["stage"], during["sla"]["agency"]) == ("mediate", "court")
    assert during["sla"]["level"] == "green"

    await _published(
        producer,
        db,
        main_worker,
        [court_event("court.mediation.concluded", 2, t + timedelta(days=1), settled=True)],
    )
    after = await _read(api, f"/v1/cases/{tid}")
    assert (after["status"], after["stage"], after["overdue"]) == ("open", "court-settled", True)
    assert (after["sla"]["stage"], after["sla"]["agency"]) == ("handle", "city")
    assert after["sla"]["level"] == "red"
    assert list(await _listed(api, grid=grid, overdue="true")) == [tid]
    assert list(await _listed(api, grid=grid, status="closed")) == []
    board = await _read(api, f"/v1/grids/{grid}")
    assert board["cases"] == {"open": 1, "overdue": 1, "closed": 0}

    # the city closes it after a passed verification: closed (late), never overdue
    await _published(
        producer,
        db,
        main_worker,
        [
            _city(tag, case, "city.case.handled", 3, t + timedelta(days=2), result="已清理"),
            _city(tag, case, "city.case.verified", 4, t + timedelta(days=3), passed=True),
            _city(tag, case, "city.case.closed", 5, t + timedelta(days=4), outcome="已办结"),
        ],
    )
    done = await _read(api, f"/v1/cases/{tid}")
    assert (done["status"], done["overdue"], done["sla"]["stage"]) == ("closed", False, "closed")
    board = await _read(api, f"/v1/grids/{grid}")
    assert board["cases"] == {"open": 0, "overdue": 0, "closed": 1}


def _follow_ups(tag: str, case: str) -> list[dict[str, Any]]:
    """A return, an extension whose new due time has passed, and a dissatisfied follow-up."""
    t = LONG_AGO
    return [
        _city(tag, case, "city.case.returned", 1, t + 30 * M, by_department="物业", reason="r"),
        _city(
            tag,
            case,
            "city.case.extended",
            2,
            t + 60 * M,
            due_at=DUE,
            reason="需协调产权单位",
            approved_by="区城市运行管理指挥中心",
        ),
        _city(tag, case, "city.feedback.recorded", 3, t + 90 * M, satisfied=False),
    ]


_SAME = ("status", "stage", "due_at", "overdue", "sla", "returns", "rework", "awaiting_report")


async def test_follow_ups_of_a_case_never_reported_wait_for_its_report(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    """Given a return, an approved extension (its due time passed) and a dissatisfied
    follow-up of a case the hub never saw reported (P), and the same story of a case reported
    first (Q), when P is read before its report, then it answers by id as waiting for its
    report (no sla, not overdue), and is not listed, nor counted on the board; when P's
    report arrives late, then P reads exactly as Q, which came in order, in the case read,
    the lists, the board, the grid list and the map."""
    tag = unique("phantom")
    grid = "93" + tag[-8:].encode().hex()[:12]
    p, q = f"{tag}-P", f"{tag}-Q"
    await _published(
        producer,
        db,
        main_worker,
        [_reported(tag, q, LONG_AGO, grid), *_follow_ups(tag, q), *_follow_ups(tag, p)],
    )
    waiting = await _read(api, f"/v1/cases/{_thread(p)}")
    assert waiting["awaiting_report"] is True
    assert (waiting["sla"], waiting["overdue"], waiting["returns"]) == (None, False, 1)
    assert waiting["due_at"] == DUE  # the extension's, which alone makes nothing overdue
    for params in ({}, {"status": "open"}, {"overdue": "true"}):
        # the list from P's id on: P, if listed, would be first
        first = await _listed(api, limit="1", cursor=_thread(p)[:-1], **params)
        assert _thread(p) not in first, params
    board = await _read(api, f"/v1/grids/{grid}")
    assert board["cases"] == {"open": 1, "overdue": 1, "closed": 0}

    await _published(producer, db, main_worker, [_reported(tag, p, LONG_AGO, grid)])
    cp = await _read(api, f"/v1/cases/{_thread(p)}")
    cq = await _read(api, f"/v1/cases/{_thread(q)}")
    assert {k: cp[k] for k in _SAME} == {k: cq[k] for k in _SAME}
    assert cp["awaiting_report"] is False and cp["overdue"] is True and cp["returns"] == 1
    listed = await _listed(api, grid=grid)
    for c in (p, q):
        assert {k: listed[_thread(c)][k] for k in _SAME} == {k: cq[k] for k in _SAME}, c
    first = await _listed(api, limit="1", cursor=_thread(p)[:-1], status="open")
    assert list(first) == [_thread(p)]
    assert set(await _listed(api, grid=grid, overdue="true")) == {_thread(p), _thread(q)}
    board = await _read(api, f"/v1/grids/{grid}")
    assert board["cases"] == {"open": 2, "overdue": 2, "closed": 0}
    assert await _map_row(api, grid) == (2, 2, 0, board["sla"])
