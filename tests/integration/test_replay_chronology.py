"""The replay tool's chronology and export (issue 12, contract section 8), on a read model of
its own: a resident who moved (a date only), was granted assistance, reported a case that
went overdue (the hub's notices) and is a party to a matter a court sealed, and who was read
through the hub. An investigator sees every agency's events, the reads and the notices in
one ordered list, with what it cannot show; a police investigator never sees the sealed
matter's content nor the assistance; the export verifies offline, and every alteration is
named; the CLI does the same through the API; and none of it writes to a topic, raises a
notice or changes the read model."""

from __future__ import annotations

import asyncio
import copy
import csv
import dataclasses
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.bundle_verify import verify_bundle
from hub.config import Settings
from hub.sim import story
from hub.tokens import Principal
from projections.coordination.due import sweep
from projections.coordination.notices import Notice
from projections.db import create_pool, snapshot
from projections.graph import canonical_persons
from projections.intake import InboundRecord
from projections.store import Store
from schemas.notices import notice_event
from schemas.topics import COORDINATION_TOPIC
from tests.integration.conftest import CC, TOKENS, new_database, serve_api, unique
from tests.integration.test_coordination import RULES
from tests.integration.test_person_flow import fresh_nid

POLICE = "police-token-0123456789abcdef"  # officer-9, police, investigator
COURT_INV = "court-inv-token-0123456789abcdef"
AUDITOR = "aud-token-0123456789abcdef"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _h(token: str, ref: str | None = "INQ-2026-07") -> dict[str, str]:
    out = {"Authorization": f"Bearer {token}", "X-Purpose": "investigation"}
    return out | ({"X-Case-Ref": ref} if ref else {})


@dataclasses.dataclass
class Scene:
    settings: Settings
    pool: asyncpg.Pool
    url: str  # the API's address
    person: str
    secrets: list[str]  # what the sealed matter and the assistance say
    thread: str  # the overdue case's thread (it has notices)


def _events(tag: str) -> tuple[list[dict[str, Any]], list[str]]:
    ev = story.event
    nid_a, nid_b = fresh_nid(f"{tag}-a"), fresh_nid(f"{tag}-b")
    name_a, name_b = "甲" + tag[-4:], "乙" + tag[-4:]
    home = {
        "text": f"北京市朝阳区望京街道阜通东大街{tag[-4:]}号院1号楼1单元101室",
        "grid": "110105001001",
    }
    sealed_case, court_case = f"{tag}-Y", f"{tag}-F"
    person_a = {"national_id": nid_a, "name": name_a}
    events = [
        ev(
            "civil",
            "civil.resident.registered",
            f"{tag}-1",
            T0,
            f"{tag}-R",
            {"resident_id": f"{tag}-R", "household_id": "H", "address": home, "person": person_a},
        ),
        ev(
            "civil",
            "civil.resident.moved",
            f"{tag}-2",
            T0 + timedelta(days=30),
            f"{tag}-R",
            {"resident_id": f"{tag}-R", "address": home, "moved_on": "2026-03-20"},
        ),
        ev(
            "civil",
            "civil.assistance.granted",
            f"{tag}-3",
            T0 + timedelta(days=31),
            f"{tag}-R",
            {
                "resident_id": f"{tag}-R",
                "program": "elderly-care",
                "monthly_amount": 1200,
                "from": "2026-04-01",
            },
        ),
        ev(
            "city",
            "city.case.reported",
            f"{tag}-4",
            T0 + timedelta(days=2),
            f"{tag}-X",
            {
                "case_id": f"{tag}-X",
                "category": "garbage",
                "description": "楼道堆放杂物",
                "channel": "hotline",
                "address": home,
                "reporter": person_a,
            },
        ),
        ev(
            "city",
            "city.case.reported",
            f"{tag}-5",
            T0 + timedelta(days=5),
            sealed_case,
            {
                "case_id": sealed_case,
                "category": "neighbour-dispute",
                "description": "纠纷",
                "channel": "grid-member",
                "address": home,
                "persons": [
                    {"role": "party", "person": person_a},
                    {"role": "party", "person": {"name": name_b, "national_id": nid_b}},
                ],
            },
        ),
        ev(
            "court",
            "court.case.filed",
            f"{tag}-6",
            T0 + timedelta(days=9),
            court_case,
            {
                "case_id": court_case,
                "case_type": "civil",
                "cause": "相邻关系纠纷",
                "parties": [
                    {"role": "plaintiff", "person": person_a},
                    {"role": "defendant", "person": {"name": name_b, "national_id": nid_b}},
                ],
                "refs": [{"agency": "city", "kind": "case", "id": sealed_case}],
            },
        ),
        ev(
            "court",
            "court.case.sealed",
            f"{tag}-7",
            T0 + timedelta(days=10),
            court_case,
            {"case_id": court_case, "reason": "未成年人"},
        ),
    ]
    secrets = [sealed_case, court_case, name_b, nid_b, "相邻关系纠纷", "elderly-care"]
    return events, secrets


def _records(events: Sequence[dict[str, Any]], late: timedelta) -> list[InboundRecord]:
    """Each event as its agency's topic would carry it, taken in ``late`` after its time."""
    out = []
    for i, e in enumerate(events):
        known = datetime.fromisoformat(e["time"]) + late * (i + 1)
        topic = COORDINATION_TOPIC if e["agency"] == "hub" else f"agency.{e['agency']}"
        out.append(
            InboundRecord(
                topic,
                0,
                i,
                str(e["subject"]).encode(),
                orjson.dumps(e),
                int(known.timestamp() * 1000),
            )
        )
    return out


@pytest.fixture(scope="module")
async def scene(hub: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scene]:
    tag = unique("chron")
    url = await new_database(hub, "chron_" + tag[-8:])
    pool = await create_pool(url)
    events, secrets = _events(tag)
    store = Store(pool, "chron-test", hub.agencies, rules=RULES)
    res = await store.apply_batch(_records(events, timedelta(hours=3)))
    assert res.accepted == len(events), res
    thread = await pool.fetchval(
        "SELECT t.thread_id FROM record_link l JOIN case_thread t ON t.case_id = l.entity_id"
        " WHERE l.kind = 'case' AND l.record_id = $1",
        f"{tag}-X",
    )
    raised: list[Notice] = []

    async def sink(ns: Sequence[Notice]) -> None:
        raised.extend(ns)

    await sweep(pool, RULES, sink, datetime.now(UTC))
    notices = [
        notice_event(n.id, n.type, n.case_id, n.due.isoformat(), n.data)
        for n in raised
        if n.case_id == thread
    ]
    assert notices, "the overdue case raised no notice"
    recs = [
        dataclasses.replace(r, offset=100 + r.offset)
        for r in _records(notices, timedelta(seconds=1))
    ]
    await store.apply_batch(recs)
    sealed_nodes = await pool.fetch(
        "SELECT entity_id FROM record_link WHERE entity_kind = 'case' AND record_id = ANY($1)",
        [f"{tag}-Y", f"{tag}-F"],
    )
    secrets += [r[0] for r in sealed_nodes]  # the hub's ids of the sealed thread's records
    person = (await canonical_persons(pool, [f"civil:resident:{tag}-R"]))[f"civil:resident:{tag}-R"]
    settings = dataclasses.replace(
        hub,
        database_url=url,
        data_dir=tmp_path_factory.mktemp("chron"),
        audit_checkpoint_seconds=3600,
    )
    tokens = {**TOKENS, COURT_INV: Principal("judge-assistant-4", "court", "investigator")}
    try:
        async with serve_api(settings, tokens) as client:
            url = str(client.base_url).rstrip("/")
            yield Scene(settings, pool, url, person, secrets, thread)
    finally:
        await pool.close()


@pytest.fixture
async def client(scene: Scene) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=scene.url, timeout=60) as c:
        yield c


async def _chronology(client: httpx.AsyncClient, token: str, scene: Scene, **q: str) -> Any:
    r = await client.get(
        "/v1/replay/chronology", params={"person": scene.person, **q}, headers=_h(token)
    )
    assert r.status_code == 200, r.text
    return r


async def test_one_ordered_list_of_events_reads_and_notices_with_what_it_cannot_show(
    scene: Scene, client: httpx.AsyncClient
) -> None:
    """Given the resident read once by the command center, when a police investigator asks
    for the resident's chronology, then every agency's events, the read and the hub's
    notices are in one list ordered by happened_at then known_at; the move is a date with
    its precision; each event says when the hub took it in; the list says what it cannot
    show; and the sealed matter and the assistance are there only as withheld items."""
    read = await client.get(f"/v1/persons/{scene.person}", headers=CC)
    assert read.status_code == 200
    r = await _chronology(client, POLICE, scene)
    body = r.json()
    items = body["items"]
    kinds = {i["kind"] for i in items}
    assert kinds == {"event", "read", "notice"}
    types = [i["type"] for i in items]
    assert "civil.resident.registered" in types and "city.case.reported" in types
    moved = next(i for i in items if i["type"] == "civil.resident.moved")
    assert moved["happened_at"] == "2026-03-20" and moved["precision"] == "day"
    assert all(i["known_at"] for i in items)
    reg = next(i for i in items if i["type"] == "civil.resident.registered")
    assert reg["known_at"] > reg["happened_at"]  # taken in after it happened
    cc = next(i for i in items if i["kind"] == "read" and i["user"] == "duty-officer-7")
    assert cc["purpose"] == "case-handling" and f"/v1/persons/{scene.person}" in cc["summary"]
    notices = [i for i in items if i["kind"] == "notice"]
    assert notices and all(i["agency"] == "hub" for i in notices)
    held = [i for i in items if i["type"] == "withheld"]
    assert {a for i in held for a in i["withheld"]["ask"]} == {"court", "civil"}
    assert len(held) == 4  # the sealed thread's three events, the assistance
    for secret in scene.secrets:
        assert secret not in r.text, secret
    assert any("never sent" in x for x in body["limits"])
    assert any("withheld" in x for x in body["limits"])
    from hub.chronology import ordered

    assert items == ordered(items, "Asia/Shanghai")
    # the replay itself is a read of the person, with its case reference
    again = (await _chronology(client, POLICE, scene)).json()["items"]
    mine = [i for i in again if i["kind"] == "read" and i.get("case_ref") == "INQ-2026-07"]
    assert mine and mine[0]["user"] == "officer-9"
    window = (
        await _chronology(
            client,
            POLICE,
            scene,
            **{"from": "2026-03-19T00:00:00+08:00", "to": "2026-03-21T00:00:00+08:00"},
        )
    ).json()
    assert [i["type"] for i in window["items"] if i["kind"] == "event"] == ["civil.resident.moved"]


async def test_the_court_sees_its_sealed_matter_but_not_the_assistance(
    scene: Scene, client: httpx.AsyncClient
) -> None:
    body = (await _chronology(client, COURT_INV, scene)).json()
    types = {i["type"] for i in body["items"]}
    assert {"court.case.filed", "court.case.sealed"} <= types
    held = [i for i in body["items"] if i["type"] == "withheld"]
    assert len(held) == 1 and held[0]["withheld"]["ask"] == ["civil"]


async def test_only_investigators_and_auditors_with_a_case_reference(
    scene: Scene, client: httpx.AsyncClient
) -> None:
    q = {"person": scene.person}
    cc = await client.get("/v1/replay/chronology", params=q, headers=CC | {"X-Case-Ref": "X"})
    assert cc.status_code == 403
    no_ref = await client.get("/v1/replay/chronology", params=q, headers=_h(POLICE, None))
    assert no_ref.status_code == 400
    assert (await client.get("/v1/replay/chronology", headers=_h(POLICE))).status_code == 400
    assert (await client.get("/v1/replay/chronology", params=q, headers=_h(AUDITOR))).is_success
    outcomes = await scene.pool.fetch(
        "SELECT outcome FROM audit_log WHERE path LIKE '/v1/replay/chronology%'"
        " ORDER BY id DESC LIMIT 4"
    )
    assert [r[0] for r in outcomes] == ["ok-masked", "bad-request", "bad-request", "denied"]


async def test_csv_and_a_printable_page(scene: Scene, client: httpx.AsyncClient) -> None:
    j = (await _chronology(client, POLICE, scene)).json()
    r = await client.get(
        "/v1/replay/chronology",
        params={"person": scene.person},
        headers=_h(POLICE) | {"Accept": "text/csv"},
    )
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:3] == ["happened_at", "precision", "known_at"]
    assert len(rows) == len(j["items"]) + 1 + 1  # this CSV read is one more read
    page = await _chronology(client, POLICE, scene, format="html")
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "style-src 'sha256-" in csp
    assert "http://" not in page.text and "https://" not in page.text and "<script" not in page.text
    assert "INQ-2026-07" in page.text and "civil.resident.moved" in page.text
    for secret in scene.secrets:
        assert secret not in page.text and secret not in r.text


async def _export(client: httpx.AsyncClient, scene: Scene, token: str = POLICE) -> Any:
    r = await client.post(
        "/v1/replay/exports",
        headers=_h(token),
        json={
            "persons": [scene.person],
            "from": "2026-01-01T00:00:00Z",
            "to": "2027-01-01T00:00:00Z",
        },
    )
    assert r.status_code == 200, r.text
    return r


async def test_an_export_verifies_offline_and_every_alteration_is_named(
    scene: Scene, client: httpx.AsyncClient
) -> None:
    """Given a police investigator's export, then it verifies offline as it is; and an event
    altered, an audit row altered, a chronology item altered, an item dropped and a
    checkpoint's signature flipped each fail, naming what."""
    r = await _export(client, scene)
    for secret in scene.secrets:
        assert secret not in r.text, secret
    bundle = r.json()
    assert verify_bundle(bundle).problems == []
    assert bundle["events"] and bundle["audit"] and bundle["proofs"]["segments"]
    assert any(e["withheld"] == "policy" and e["content"] is None for e in bundle["events"])

    def broken(change: Any) -> list[str]:
        b = copy.deepcopy(bundle)
        change(b)
        return verify_bundle(b).problems

    ev = next(
        n
        for n, e in enumerate(bundle["events"])
        if e["content"] and e["content"]["type"] == "civil.resident.registered"
    )
    src, eid = (
        bundle["events"][ev]["content"]["source"],
        bundle["events"][ev]["content"]["event_id"],
    )
    p = broken(lambda b: b["events"][ev]["content"]["data"].update(household_id="H2"))
    assert p and f"({src}, {eid}): altered" in p[0], p
    au = next(n for n, a in enumerate(bundle["audit"]) if a["content"])
    seq = bundle["audit"][au]["seq"]
    p = broken(lambda b: b["audit"][au]["content"].update(purpose="duty-watch"))
    assert p and p[0].startswith(f"audit row seq {seq}") and "altered" in p[0], p
    p = broken(lambda b: b["chronology"]["items"][0].update(summary="nothing happened"))
    assert p and p[0].startswith("chronology item 1") and "summary" in p[0], p
    p = broken(lambda b: b["chronology"]["items"].pop(1))
    assert any("dropped" in x for x in p), p
    seg = bundle["proofs"]["segments"][0]
    sig = seg["checkpoint"]["signature"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    p = broken(lambda b: b["proofs"]["segments"][0]["checkpoint"].update(signature=flipped))
    assert p and "not signed by the key" in p[0] and seg["chain"] in p[0], p
    p = broken(lambda b: b["seal"].update(signature=flipped))
    assert p == ["the bundle's seal does not verify: the bundle changed after the hub made it"]
    other = Ed25519PrivateKey.generate().public_key()
    p = verify_bundle(bundle, published=other).problems
    assert p and "is not the published key" in p[0], p
    # an auditor sees no secret field: those events are carried as digests, and verify
    audited = (await _export(client, scene, AUDITOR)).json()
    assert verify_bundle(audited).problems == []
    assert any(e["withheld"] == "graded" and e["content"] is None for e in audited["events"])


def _cli(scene: Scene, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        HUB_TOKEN=POLICE,
        HUB_CASE_REF="INQ-2026-07",
        HUB_DATA_DIR=str(scene.settings.data_dir),
    )
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "replay", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def test_the_cli_asks_the_api_and_verifies_the_file(scene: Scene, tmp_path: Path) -> None:
    api = ["--api", scene.url, "--person", scene.person]
    out = await asyncio.to_thread(_cli, scene, "chronology", *api, "--csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("happened_at,precision,known_at")
    table = await asyncio.to_thread(_cli, scene, "chronology", *api)
    assert "civil.resident.moved" not in table.stdout and "moved on 2026-03-20" in table.stdout
    assert "never sent" in table.stdout
    f = tmp_path / "bundle.json"
    window = ["--from", "2026-01-01T00:00:00+08:00", "--to", "2027-01-01T00:00:00+08:00"]
    out = await asyncio.to_thread(_cli, scene, "export", *api, *window, "-o", str(f))
    assert out.returncode == 0, out.stderr
    # checked only against the key it carries, a bundle proves nothing (anyone can re-sign
    # an altered one with a key of their own): exit 2, and how to pin the hub's key
    unpinned = await asyncio.to_thread(_cli, scene, "verify", str(f))
    assert unpinned.returncode == 2 and "--public-key" in unpinned.stdout, unpinned.stdout
    pem = tmp_path / "hub.pem"
    env = dict(os.environ, HUB_DATA_DIR=str(scene.settings.data_dir))
    got = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hub.cli", "audit", "public-key", "-o", str(pem)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert got.returncode == 0 and "key id" in got.stderr, got.stderr
    ok = await asyncio.to_thread(_cli, scene, "verify", str(f), "--public-key", str(pem))
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stdout + ok.stderr
    b = orjson.loads(f.read_bytes())
    shown = next(i for i in b["chronology"]["items"] if i["type"] == "civil.resident.moved")
    shown["summary"] += " (edited)"
    f.write_bytes(orjson.dumps(b))
    bad = await asyncio.to_thread(_cli, scene, "verify", str(f), "--public-key", str(pem))
    assert bad.returncode == 1 and "ALTERED chronology item" in bad.stdout, bad.stdout


async def _ends(settings: Settings) -> dict[Any, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.require_kafka(), group_id=None)
    await consumer.start()
    try:
        # the agency topics: written only by agencies and the gateway. (hub.coordination and
        # the resolution topics are written by the session's worker for other tests' threads
        # whenever their time comes; that no notice came from here: notice_claim and
        # thread_due of this read model do not move, and the API has no sweeper.)
        topics = [t for t in await consumer.topics() if t.startswith("agency.")]
        parts = [tp for t in topics for tp in _partitions(consumer, t)]
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[Any]:
    from aiokafka import TopicPartition

    return [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]


async def test_replay_writes_to_no_topic_raises_no_notice_and_changes_no_read_model(
    scene: Scene, client: httpx.AsyncClient
) -> None:
    """Given the read model and every topic's end, when the chronology is read in every form
    and exported as investigator and auditor, then the read model is the same row for row,
    no notice was claimed and no topic has a record more (the session's other tests are not
    running meanwhile; the worker of the session does not read this database)."""
    before = await snapshot(scene.pool)
    claims = await scene.pool.fetchval("SELECT count(*) FROM notice_claim")
    due = await scene.pool.fetch("SELECT * FROM thread_due ORDER BY 1")
    ends = await _ends(scene.settings)
    for fmt in ("json", "csv", "html"):
        await _chronology(client, POLICE, scene, format=fmt)
    await _chronology(client, AUDITOR, scene, case=scene.thread)
    await _export(client, scene)
    await _export(client, scene, AUDITOR)
    # and the as-of reads and diffs, at an instant before any of it and at now
    history = {
        t: await scene.pool.fetchval(f"SELECT count(*) FROM {t}_history")
        for t in ("entity_field", "entity_member", "mention", "person_edge", "case_thread")
    }
    for path in (f"/v1/replay/persons/{scene.person}", f"/v1/replay/cases/{scene.thread}"):
        for q in ({}, {"known_at": "2026-01-01T00:00:00Z"}):
            r = await client.get(path, params=q, headers=_h(POLICE))
            assert r.status_code in (200, 404), r.text
        r = await client.get(
            path + "/diff", params={"from": "2026-01-01T00:00:00Z"}, headers=_h(AUDITOR)
        )
        assert r.status_code == 200, r.text
    assert {
        t: await scene.pool.fetchval(f"SELECT count(*) FROM {t}_history") for t in history
    } == history
    assert await snapshot(scene.pool) == before
    assert await scene.pool.fetchval("SELECT count(*) FROM notice_claim") == claims
    assert await scene.pool.fetch("SELECT * FROM thread_due ORDER BY 1") == due
    assert await _ends(scene.settings) == ends


async def test_an_id_the_database_cannot_hold_is_a_bad_request(
    scene: Scene, client: httpx.AsyncClient
) -> None:
    body = {"persons": ["P-\x00"], "from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}
    r = await client.post("/v1/replay/exports", headers=_h(POLICE), json=body)
    assert r.status_code == 400, r.text
    raw = b'{"cases": ["\\ud8ae"], "from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}'
    r = await client.post(
        "/v1/replay/exports", headers=_h(POLICE) | {"Content-Type": "application/json"}, content=raw
    )
    assert r.status_code in (400, 422), r.text
