"""The KPI report on the real stack: ``GET /v1/reports/kpi`` and ``civic-hub report kpi``
over a past window, from the event archive."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer

from hub.config import Settings
from hub.sim.city import SimConfig, simulate
from projections.coordination.rules import DEFAULT_RULES as RULES_FILE
from projections.db import create_pool
from projections.intake import InboundRecord
from projections.reads.kpi import FORMULAS, kpi, replayed
from projections.reads.kpi_fold import fold
from projections.store import Store
from tests.integration.conftest import CC, Worker, new_database, publish, unique, wait_caught_up
from tests.integration.test_coordination import RULES, _city
from tests.integration.test_coordination import _reported as reported

SH = ZoneInfo("Asia/Shanghai")
MON = datetime(2024, 5, 6, 9, 0, tzinfo=SH)  # a working Monday, long before any other test
WINDOW = {"from": "2024-05-06T00:00:00+08:00", "to": "2024-05-11T00:00:00+08:00"}
AUDITOR = {"Authorization": "Bearer aud-token-0123456789abcdef", "X-Purpose": "audit-review"}
SYSTEM = {"Authorization": "Bearer sys-token-0123456789abcdef"}


def _reported(tag: str, case: str, at: datetime, grid: str) -> dict[str, Any]:
    return reported(tag, case, at, grid, channel="hotline")


def _events(tag: str, grid: str, other_grid: str) -> list[dict[str, Any]]:
    good, bad, later = f"{tag}-G", f"{tag}-B", f"{tag}-L"
    m = timedelta(minutes=1)
    due = "2024-05-08T17:30:00+08:00"
    ev = [
        _reported(tag, good, MON, grid),
        _city(tag, good, "city.case.registered", 1, MON + 20 * m, due_at=due),
        _city(tag, good, "city.case.dispatched", 2, MON + 40 * m, department="环卫所", due_at=due),
        _city(tag, good, "city.case.handled", 3, MON + 90 * m, result="已清理"),
        _city(tag, good, "city.case.verified", 4, MON + 120 * m, passed=True),
        _city(tag, good, "city.case.closed", 5, MON + 130 * m, outcome="已解决"),
        _city(tag, good, "city.feedback.recorded", 6, MON + 240 * m, satisfied=True),
        _reported(tag, bad, MON, grid),
        # registered the next day: past the 2 working hours of `register`
        _city(tag, bad, "city.case.registered", 1, MON + timedelta(days=1), due_at=due),
    ]
    ev += [
        _city(
            tag,
            bad,
            "city.case.returned",
            2 + i,
            MON + timedelta(days=1, hours=1 + i),
            by_department="物业",
            reason="不属于本单位职责",
        )
        for i in range(2)
    ]
    ev += [
        _city(
            tag,
            bad,
            "city.case.extended",
            4,
            MON + timedelta(days=1, hours=3),
            due_at="2024-05-10T17:30:00+08:00",
            reason="需协调物业",
            approved_by="街道指挥中心",
        ),
        # rework: a failed verification (a follow-up before closure reopens nothing)
        _city(tag, bad, "city.case.verified", 6, MON + timedelta(days=1, hours=4), passed=False),
        _city(tag, bad, "city.feedback.recorded", 5, MON + timedelta(days=2), satisfied=False),
        _reported(tag, later, MON + timedelta(days=14), other_grid),  # outside the window
    ]
    return ev


async def test_kpi_per_grid_street_and_agency_from_the_archive(
    api: httpx.AsyncClient,
    hub: Settings,
    producer: AIOKafkaProducer,
    db: asyncpg.Pool,
    main_worker: Worker,
) -> None:
    """Given a case handled well and one registered late, bounced, extended, reopened by a
    failed verification and followed up by a dissatisfied citizen in one grid, and a case of
    another grid reported after the window, when the report is asked for the window, then it
    counts each as its formula says."""
    tag = unique("kpi")
    digits = str(uuid.uuid4().int)[:12]
    grid, other = f"11{digits}", f"12{digits}"
    ends = await publish(producer, _events(tag, grid, other))
    await wait_caught_up(db, hub.streams_app_id, ends, main_worker)

    r = await api.get("/v1/reports/kpi", params={**WINDOW, "by": "grid"}, headers=CC)
    assert r.status_code == 200, r.text
    items = {i["key"]: i for i in r.json()["items"]}
    assert other not in items
    g = items[grid]
    expected = {
        "received": 2,
        "responded_on_time": 1,
        "solved": 1,
        "closed": 1,
        "closed_on_time": 1,
        "followed_up": 2,
        "satisfied": 1,
        "rework": 1,
        "extended": 1,
        "bounced": 1,
        "solved_lowest_level": 1,
        "response_rate": 0.5,
        "solve_rate": 0.5,
        "on_time_close_rate": 1.0,
        "satisfaction_rate": 0.5,
        "rework_rate": 0.5,
        "lowest_level_share": 1.0,
    }
    assert {k: g[k] for k in expected} == expected
    street = await api.get("/v1/reports/kpi", params={**WINDOW, "by": "street"}, headers=AUDITOR)
    assert street.status_code == 200, street.text
    assert {i["key"]: i["received"] for i in street.json()["items"]}[grid[:9]] == 2
    agency = await api.get("/v1/reports/kpi", params={**WINDOW, "by": "agency"}, headers=CC)
    assert "city" in {i["key"] for i in agency.json()["items"]}

    # audited; not for an agency's system; a window needs an offset
    assert (await api.get("/v1/reports/kpi", params=WINDOW, headers=SYSTEM)).status_code == 403
    naive = {"from": "2024-05-06T00:00:00", "to": WINDOW["to"]}
    assert (await api.get("/v1/reports/kpi", params=naive, headers=CC)).status_code == 400
    audited = await db.fetch(
        "SELECT role, outcome FROM audit_log WHERE path LIKE '/v1/reports/kpi%'"
    )
    assert {("command-center", "ok"), ("auditor", "ok"), ("agency-system", "denied")} <= {
        (a["role"], a["outcome"]) for a in audited
    }
    # every formula is in the OpenAPI description
    doc = (await api.get("/openapi.json")).json()
    described = doc["paths"]["/v1/reports/kpi"]["get"]["description"]
    assert all(f"`{k}`: {v}" in described for k, v in FORMULAS.items())

    # the command line answers the same
    env = dict(os.environ)
    env.update(
        {"HUB_DATABASE_URL": hub.require_database(), "HUB_KAFKA_BOOTSTRAP": hub.require_kafka()}
    )
    out = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "hub.cli",
            "report",
            "kpi",
            "--from",
            WINDOW["from"],
            "--to",
            WINDOW["to"],
            "--by",
            "grid",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith(grid))
    assert line.split()[1:9] == ["2", "1", "1", "1", "1", "1", "1", "1"]


async def test_the_summed_report_equals_every_clock_replayed_on_a_simulated_city(
    hub: Settings,
) -> None:
    """Given a simulated city (some records published late, out of time order) projected in
    a database of its own, when the summary is folded after the first half and the report
    asked before and after the second half is folded, for a year, a month whose cases go on
    after it, and each key, then every report equals the replay of every case's clock."""
    city = simulate(SimConfig(seed=11, events=4000, days=90, late=0.1))
    records = [
        InboundRecord(
            f"agency.{e.event['agency']}", 0, i, e.event["subject"].encode(), orjson.dumps(e.event)
        )
        for i, e in enumerate(city)
    ]
    dsn = await new_database(hub, "kpi_" + unique("sum")[-8:])
    pool = await create_pool(dsn)
    windows = [
        (datetime(2026, 1, 1, tzinfo=SH), datetime(2027, 1, 1, tzinfo=SH)),
        (datetime(2026, 2, 1, tzinfo=SH), datetime(2026, 3, 1, tzinfo=SH)),
        (datetime(2026, 2, 23, 9, 30, tzinfo=SH), datetime(2026, 2, 25, 11, tzinfo=SH)),
    ]

    async def all_equal() -> int:
        received = 0
        for start, end in windows:
            for by in ("grid", "street", "agency"):
                want = await replayed(pool, RULES, start, end, by)
                assert await kpi(pool, RULES, start, end, by) == want, (start, end, by)
                received += want["total"]["received"]
        return received

    try:
        store = Store(pool, "kpi-test", hub.agencies, rules=RULES)
        half = len(records) // 2
        for k in range(0, len(records), 500):
            if k == half - half % 500:
                assert await fold(pool, RULES, wait=True)  # the first half folded
                assert await all_equal() > 0
            await store.apply_batch(records[k : k + 500])
        assert await all_equal() > 0  # the second half not folded: replayed
        assert await fold(pool, RULES, wait=True)
        assert await all_equal() > 0  # all folded
    finally:
        await pool.close()


CLI = (sys.executable, "-m", "hub.cli", "report", "kpi")
CUSTOM_RULES = RULES_FILE.read_text(encoding="utf-8").replace(
    'id = "civic-hub/default"', 'id = "probe/custom"', 1
)


def _cli(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "--from", WINDOW["from"], "--to", WINDOW["to"], "--by", "grid", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_command_line_reports_under_the_rules_the_hub_runs(
    hub: Settings, api: httpx.AsyncClient, db: asyncpg.Pool, main_worker: Worker, tmp_path: Any
) -> None:
    """Given a hub whose API and workers run the shipped rules, when the command line is run
    with other rules (HUB_RULES of its own, as when it is run without the hub's settings),
    then without a token it refuses, naming both rules, instead of other counts than the
    API's (it used to report under its own rules); with a token it asks the hub's API and
    answers exactly what the API does; both forms name the rules' id and version."""
    custom = tmp_path / "custom.toml"
    await asyncio.to_thread(custom.write_text, CUSTOM_RULES, "utf-8")
    for _ in range(300):  # the workers record the rules they judge under as they fold
        if await db.fetchval("SELECT rule_id FROM kpi_fold") is not None:
            break
        await asyncio.sleep(0.1)
    assert await db.fetchval("SELECT rule_id FROM kpi_fold") == RULES.id
    env = {k: v for k, v in os.environ.items() if k not in ("HUB_TOKEN", "HUB_API_URL")}
    env.update(
        {
            "HUB_DATABASE_URL": hub.require_database(),
            "HUB_KAFKA_BOOTSTRAP": hub.require_kafka(),
            "HUB_RULES": str(custom),
        }
    )
    refused = await asyncio.to_thread(_cli, env)
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert f"{RULES.id} v{RULES.version}" in refused.stderr
    assert f"probe/custom v{RULES.version}" in refused.stderr
    assert "--token" in refused.stderr

    want = (await api.get("/v1/reports/kpi", params={**WINDOW, "by": "grid"}, headers=CC)).json()
    env.update({"HUB_TOKEN": CC["Authorization"].split()[1], "HUB_API_URL": str(api.base_url)})
    asked = await asyncio.to_thread(_cli, env, "--json")
    assert asked.returncode == 0, asked.stderr
    assert orjson.loads(asked.stdout) == want
    assert want["rule"] == {"id": RULES.id, "version": RULES.version}
    shown = await asyncio.to_thread(_cli, env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == f"rules: {RULES.id} v{RULES.version}"
