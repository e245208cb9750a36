"""Replay (issue 12, contract section 8): a story published in phases, read live between
them; replayed at each instant, the hub answers what it answered then; at each instant it
equals a rebuild of the log up to that instant; at now it equals the live read; the diff
names the events that changed each field; only investigators and auditors replay, with a
purpose and a case reference, and every replay is audited with it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer

from hub.config import Settings
from hub.rebuild import Rebuilder
from hub.sim import story
from projections.db import create_pool, read_positions
from projections.reads import asof as asof_reads
from projections.reads import cases as cases_reads
from projections.reads import persons as persons_reads
from projections.reads.asof import Instant, as_of
from tests.integration.conftest import Worker, publish, unique, wait_caught_up
from tests.integration.test_person_flow import fresh_nid

CONSUMER = "hub.internal.streams"
INVESTIGATOR = {
    "Authorization": "Bearer police-token-0123456789abcdef",
    "X-Purpose": "investigation",
    "X-Case-Ref": quote("督察-2026-017"),  # percent-encoded UTF-8, kept decoded
}


def _without_as_of(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "as_of"}


async def _db_now(db: asyncpg.Pool) -> datetime:
    now: datetime = await db.fetchval("SELECT clock_timestamp()")
    return now


async def test_replay_answers_what_the_hub_answered_then(
    api: httpx.AsyncClient,
    producer: AIOKafkaProducer,
    db: asyncpg.Pool,
    main_worker: Worker,
    hub: Settings,
) -> None:
    tag = unique("rp")
    t0 = story.EPOCH
    grid = "96" + tag[-8:].encode().hex()[:12]
    home = {"text": f"北京市朝阳区望京街道阜通东大街{tag[-4:]}号院2号楼1单元301室", "grid": grid}
    nid_a = fresh_nid(f"{tag}-a")
    name_a, name_b = "周" + tag[-3:], "吴" + tag[-3:]
    digits = str(int(tag[-6:], 16)).zfill(8)[-8:]
    phone_a, phone_b = "135" + digits, "158" + digits
    city_case = f"{tag}-C"
    ev = story.event
    phase1 = [
        ev("civil", "civil.resident.registered", f"{tag}-1", t0, f"{tag}-R",
           {"resident_id": f"{tag}-R", "household_id": "H", "address": home,
            "person": {"national_id": nid_a, "name": name_a, "phone": phone_a}}),
        ev("city", "city.case.reported", f"{tag}-2", t0 + timedelta(days=1), city_case,
           {"case_id": city_case, "category": "neighbour-dispute", "description": "噪音纠纷",
            "channel": "grid-member", "address": home,
            "persons": [{"role": "party", "person": {"name": name_a, "national_id": nid_a}},
                        {"role": "party", "person": {"name": name_b, "phone": phone_b}}]}),
    ]  # fmt: skip
    phase2 = [
        ev("civil", "civil.resident.moved", f"{tag}-3", t0 + timedelta(days=2), f"{tag}-R",
           {"resident_id": f"{tag}-R", "moved_on": "2026-02-01",
            "address": {"text": f"北京市朝阳区望京街道广顺北大街{tag[-4:]}号1号楼1单元101室",
                        "grid": grid}}),
        # closed after a passed verification (a close without one leaves the case open)
        ev("city", "city.case.verified", f"{tag}-5", t0 + timedelta(days=3) - timedelta(hours=1),
           city_case, {"case_id": city_case, "passed": True}),
        ev("city", "city.case.closed", f"{tag}-4", t0 + timedelta(days=3), city_case,
           {"case_id": city_case, "outcome": "办结"}),
    ]  # fmt: skip

    await wait_caught_up(db, CONSUMER, await publish(producer, phase1[:1]), main_worker)
    before_all = await _db_now(db)
    await wait_caught_up(db, CONSUMER, await publish(producer, phase1[1:]), main_worker)
    t1 = await _db_now(db)
    at_t1 = await read_positions(db, CONSUMER)
    pid = (await persons_reads.persons_by_national_id(db, nid_a))[0]
    case_id = await db.fetchval(
        "SELECT entity_id FROM record_link WHERE entity_kind = 'case' AND record_id = $1", city_case
    )
    live1 = {
        "person": (await api.get(f"/v1/persons/{pid}", headers=INVESTIGATOR)).json(),
        "case": (await api.get(f"/v1/cases/{case_id}", headers=INVESTIGATOR)).json(),
    }
    await wait_caught_up(db, CONSUMER, await publish(producer, phase2), main_worker)
    t2 = await _db_now(db)
    live2 = {
        "person": (await api.get(f"/v1/persons/{pid}", headers=INVESTIGATOR)).json(),
        "case": (await api.get(f"/v1/cases/{case_id}", headers=INVESTIGATOR)).json(),
    }
    assert live1["case"]["status"] != live2["case"]["status"] == "closed"
    assert live1["person"]["addresses"] != live2["person"]["addresses"]

    # Replayed at each instant: what the hub answered then (the same shape, plus as_of).
    for t, live in ((t1, live1), (t2, live2)):
        q = {"known_at": t.isoformat()}
        p = await api.get(f"/v1/replay/persons/{pid}", params=q, headers=INVESTIGATOR)
        assert p.status_code == 200, p.text
        assert p.json()["as_of"]["known_at"] is not None
        assert _without_as_of(p.json()) == live["person"]
        c = await api.get(f"/v1/replay/cases/{case_id}", params=q, headers=INVESTIGATOR)
        assert c.status_code == 200, c.text
        # overdue and the clock are read at the instant asked, as the live read was then
        assert _without_as_of(c.json()) == {**live["case"], **_at_instant(c.json(), live)}
    # Before the case was reported, the hub knew the resident but not the case.
    q = {"known_at": before_all.isoformat()}
    gone = await api.get(f"/v1/replay/cases/{case_id}", params=q, headers=INVESTIGATOR)
    assert gone.status_code == 404
    early = await api.get(f"/v1/replay/persons/{pid}", params=q, headers=INVESTIGATOR)
    assert early.status_code == 200 and early.json()["cases"] == []

    # The diff names what changed and the event that changed it.
    d = await api.get(
        f"/v1/replay/cases/{case_id}/diff",
        params={"from": t1.isoformat(), "to": t2.isoformat()},
        headers=INVESTIGATOR,
    )
    assert d.status_code == 200, d.text
    status = next(i for i in d.json()["items"] if i["field"] == "status")
    assert (status["before"], status["after"]) == ("open", "closed")
    assert (status["event_id"], status["agency"]) == (f"{tag}-4", "city")
    assert status["known_at"] is not None
    # `to` is the later instant: up to T1, the case was not closed yet
    early_diff = await api.get(
        f"/v1/replay/cases/{case_id}/diff",
        params={"from": before_all.isoformat(), "to": t1.isoformat()},
        headers=INVESTIGATOR,
    )
    assert early_diff.json()["to"].startswith(t1.strftime("%Y-%m-%dT%H:%M:%S"))
    assert "closed" not in early_diff.text and early_diff.json()["items"]
    d = await api.get(
        f"/v1/replay/persons/{pid}/diff",
        params={"from": t1.isoformat(), "to": t2.isoformat()},
        headers=INVESTIGATOR,
    )
    moved = next(i for i in d.json()["items"] if i["field"] == "addresses")
    assert (moved["event_id"], moved["agency"]) == (f"{tag}-3", "civil")

    # The command line asks the API the same, as the investigator.
    env = dict(
        os.environ,
        HUB_TOKEN="police-token-0123456789abcdef",
        HUB_CASE_REF="督察-2026-017",
        HUB_DATA_DIR=str(hub.data_dir),
    )
    base = [sys.executable, "-m", "hub.cli", "replay", "case", case_id, "--api", str(api.base_url)]
    out = await asyncio.to_thread(
        subprocess.run, [*base, "--known-at", t1.isoformat()],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert _without_as_of(orjson.loads(out.stdout))["status"] == live1["case"]["status"]
    out = await asyncio.to_thread(
        subprocess.run, [*base, "--known-at", t1.isoformat(), "--diff-to", t2.isoformat()],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "status" in {i["field"] for i in orjson.loads(out.stdout)["items"]}

    # At T1 the as-of read equals a rebuild of the log up to T1.
    schema = f"replay_{tag.replace('-', '_')}"[:40]
    rb = Rebuilder(hub, schema)
    try:
        await rb.start()
        await rb.run_until(at_t1)
        await rb.build_indexes()
    finally:
        await rb.close()
    rebuilt = await create_pool(hub.require_database(), schema=schema)
    try:
        async with as_of(db, Instant(t1)) as conn:
            assert await persons_reads.person(conn, pid) == await persons_reads.person(rebuilt, pid)
            assert await cases_reads.case(conn, case_id, t1) == await cases_reads.case(
                rebuilt, case_id, t1
            )
    finally:
        await rebuilt.close()
        await db.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await db.execute(f'DROP SCHEMA IF EXISTS "{schema}_asof" CASCADE')


def _at_instant(replayed: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """The fields that depend on the reading instant itself (the live read's now vs the
    instant asked, a few milliseconds apart): taken from the replay."""
    return {k: replayed[k] for k in ("overdue", "sla") if k in replayed}


async def test_as_of_now_equals_the_live_read_for_every_person_and_thread(
    db: asyncpg.Pool, main_worker: Worker
) -> None:
    """Over whatever the session's city holds (the simulated cities and stories of the
    other tests): read at now through the as-of views, every person and every thread is
    the live read."""
    pids = [r[0] for r in await db.fetch("SELECT person_id FROM person_node ORDER BY 1 LIMIT 400")]
    cids = [r[0] for r in await db.fetch("SELECT case_id FROM case_thread ORDER BY 1 LIMIT 400")]
    now = datetime.now(UTC) + timedelta(seconds=1)
    async with db.acquire() as live_conn, as_of(db, Instant(now)) as conn:
        async with live_conn.transaction(isolation="repeatable_read", readonly=True):
            for p in pids:
                assert await persons_reads.person(conn, p) == await persons_reads.person(
                    live_conn, p
                ), p
            for c in cids:
                assert await cases_reads.case(conn, c, now) == await cases_reads.case(
                    live_conn, c, now
                ), c
    assert pids and cids


async def test_replay_is_for_investigators_with_a_case_reference_and_is_audited(
    api: httpx.AsyncClient, db: asyncpg.Pool, main_worker: Worker
) -> None:
    pid = await db.fetchval("SELECT person_id FROM person_node ORDER BY 1 LIMIT 1")
    cc = {"Authorization": "Bearer cc-token-0123456789abcdef", "X-Purpose": "case-handling"}
    assert (await api.get(f"/v1/replay/persons/{pid}", headers=cc)).status_code == 403
    no_ref = {k: v for k, v in INVESTIGATOR.items() if k != "X-Case-Ref"}
    r = await api.get(f"/v1/replay/persons/{pid}", headers=no_ref)
    assert r.status_code == 400 and "X-Case-Ref" in r.json()["detail"]
    no_purpose = {k: v for k, v in INVESTIGATOR.items() if k != "X-Purpose"}
    assert (await api.get(f"/v1/replay/persons/{pid}", headers=no_purpose)).status_code == 403
    naive = await api.get(
        f"/v1/replay/persons/{pid}",
        params={"known_at": "2026-11-24T09:00:00"},
        headers=INVESTIGATOR,
    )
    assert naive.status_code == 400 and "time zone" in naive.json()["detail"]
    ref = unique("ref")
    auditor = {
        "Authorization": "Bearer aud-token-0123456789abcdef",
        "X-Purpose": "audit-review",
        "X-Case-Ref": ref,
    }
    assert (await api.get(f"/v1/replay/persons/{pid}", headers=auditor)).status_code == 200
    row = await db.fetchrow(
        "SELECT user_name, path, purpose, subject_ids, outcome FROM audit_log WHERE case_ref = $1",
        ref,
    )
    assert row is not None and row["user_name"] == "auditor-1" and row["outcome"].startswith("ok")
    assert row["path"].startswith(f"/v1/replay/persons/{pid}") and row["subject_ids"]
    refused = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE path LIKE '/v1/replay/%' AND outcome = 'denied'"
    )
    assert refused >= 1
    assert await asof_reads.first_known(db) is not None
