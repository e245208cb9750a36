"""Closure and follow-ups on the real stack (probe 13): a close without a passed
verification does not stop the clock and is not closed on time in the KPI; a dissatisfied
follow-up before closure changes nothing in the clock; returns or a follow-up on a case
never reported raise nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from hub.config import Settings
from projections.coordination.due import sweep
from projections.db import create_pool
from projections.intake import InboundRecord
from projections.reads import cases as cases_reads
from projections.reads.kpi import kpi, replayed
from projections.reads.kpi_fold import fold
from projections.reads.sla import add_sla, thread_clocks
from projections.store import Store
from tests.integration.conftest import new_database, unique
from tests.integration.test_coordination import LONG_AGO, RULES, _city, _reported
from tests.integration.test_notices import _keep, _thread

DUE = "2026-03-10T17:30:00+08:00"


def _through_handling(tag: str, case: str, grid: str) -> list[dict[str, Any]]:
    t, m = LONG_AGO, timedelta(minutes=1)
    return [
        _reported(tag, case, t, grid),
        _city(tag, case, "city.case.registered", 1, t + 10 * m, due_at=DUE),
        _city(tag, case, "city.case.dispatched", 2, t + 20 * m, department="环卫所", due_at=DUE),
        _city(tag, case, "city.case.handled", 3, t + 60 * m, result="已清理"),
    ]


async def test_closure_needs_a_verification_and_follow_ups_count_only_after_it(
    hub: Settings,
) -> None:
    """Given a case handled and closed but never verified (U), one handled, verified and
    closed (V), an open case with two dissatisfied follow-ups (F), and a case never reported
    with three returns and a follow-up (P), when the clocks are read, the sweep runs and the
    KPI is asked for the window, then U's verify stage is red and urged, U counts closed but
    not closed on time; V is closed on time; F has no rework and its clock is unmoved; P
    has no clock and raises nothing."""
    tag = unique("closure")
    grid = "96" + tag[-8:].encode().hex()[:12]
    u, v, f, p = (f"{tag}-{x}" for x in "UVFP")
    t, m = LONG_AGO, timedelta(minutes=1)
    events = [
        *_through_handling(tag, u, grid),
        _city(tag, u, "city.case.closed", 5, t + 90 * m, outcome="已办结"),
        *_through_handling(tag, v, grid),
        _city(tag, v, "city.case.verified", 4, t + 80 * m, passed=True),
        _city(tag, v, "city.case.closed", 5, t + 90 * m, outcome="已办结"),
        *_through_handling(tag, f, grid)[:3],
        _city(tag, f, "city.feedback.recorded", 4, t + 30 * m, satisfied=False, channel="phone"),
        _city(tag, f, "city.feedback.recorded", 5, t + 40 * m, satisfied=False, channel="phone"),
        *[
            _city(tag, p, "city.case.returned", i, t + i * m, by_department="物业", reason="r")
            for i in range(1, 4)
        ],
        _city(tag, p, "city.feedback.recorded", 4, t + 5 * m, satisfied=False),
    ]
    records = [
        InboundRecord("agency.city", 0, i, e["subject"].encode(), orjson.dumps(e))
        for i, e in enumerate(events)
    ]
    dsn = await new_database(hub, "closure_" + tag[-8:])
    pool = await create_pool(dsn)
    try:
        store = Store(pool, "closure-test", hub.agencies, rules=RULES)
        res = await store.apply_batch(records)
        assert res.accepted == len(events) and res.rejected == 0
        ids = {c: await _thread(pool, c) for c in (u, v, f, p)}
        now = datetime.now(UTC)
        clocks = await thread_clocks(pool, ids.values(), RULES)
        cu, cv, cf, cp = (clocks[ids[c]] for c in (u, v, f, p))
        assert cu.window is not None and cu.window.stage == "verify" and cu.closed_at is None
        assert cv.window is None and cv.closed_at == t + 90 * m
        assert cf.rework == 0 and cf.window is not None and cf.window.stage == "handle"
        assert (cp.window, cp.rework, cp.returns) == (None, 0, 3)

        # the case reads say so too: F's stage is the last one done, not "reopened"; P,
        # never reported, has no stage to show
        for c, stage in ((f, "dispatched"), (p, None)):
            read = await cases_reads.case(pool, ids[c], now)
            assert read is not None
            await add_sla(pool, [read], RULES, now)
            assert (read["stage"], read["rework"]) == (stage, 0), c

        raised = await sweep(pool, RULES, _keep([]), now)
        by_case: dict[str, set[tuple[str, Any]]] = {}
        for n in raised:
            by_case.setdefault(n.case_id, set()).add((n.type, n.data.get("stage")))
        assert ("hub.case.urged", "verify") in by_case[ids[u]]
        assert ids[v] not in by_case and ids[p] not in by_case
        assert {s for _, s in by_case[ids[f]]} == {"handle", None}  # raised carries no stage

        start = datetime(2026, 3, 2, tzinfo=LONG_AGO.tzinfo)
        end = datetime(2026, 3, 9, tzinfo=LONG_AGO.tzinfo)
        want = await replayed(pool, RULES, start, end, "grid")
        got = {i["key"]: i for i in want["items"]}[grid]
        counts = {k: got[k] for k in ("received", "closed", "closed_on_time", "rework", "solved")}
        assert counts == {"received": 3, "closed": 2, "closed_on_time": 1, "rework": 0, "solved": 1}
        assert got["on_time_close_rate"] == 0.5
        await fold(pool, RULES, wait=True)
        assert await kpi(pool, RULES, start, end, "grid") == want  # the summary agrees
    finally:
        await pool.close()
