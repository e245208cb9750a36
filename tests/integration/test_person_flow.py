"""Given an agency event on Kafka, when the worker projects it, then the command center reads it."""

from __future__ import annotations

import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from hub.sim import story
from hub.sim.people import national_id
from tests.integration.conftest import CC, Worker, publish, unique, wait_caught_up


def resident_event(tag: str, nid: str, name: str = "李秀英") -> dict:
    return story.event(
        "civil",
        "civil.resident.registered",
        f"{tag}-reg",
        story.EPOCH,
        f"{tag}-R1",
        {
            "resident_id": f"{tag}-R1",
            "household_id": f"{tag}-H1",
            "person": {"national_id": nid, "name": name, "phone": "13800000000"},
            "address": {
                "text": "北京市朝阳区望京街道阜通东大街6号1号楼2单元301室",
                "grid": "110105001001",
            },
        },
    )


def fresh_nid(seed: str) -> str:
    rng = random.Random(seed)
    return national_id(rng, "110105", story.EPOCH.replace(year=1980), female=True)


async def test_a_registered_resident_is_served_with_provenance(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("flow")
    nid = fresh_nid(tag)
    ends = await publish(producer, [resident_event(tag, nid)])
    await wait_caught_up(db, "hub.internal.streams", ends, main_worker)

    r = await api.get("/v1/persons", params={"national_id": nid}, headers=CC)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 1
    person = items[0]
    # a command-center reader sees the number masked (graded secret); an investigator in full
    assert person["national_id"] == nid[:6] + "*" * 8 + nid[-4:]
    assert person["names"] == ["李秀英"]
    assert person["gender"] == "F" and person["birth_date"] == "1980-11-02"
    assert {"agency": "civil", "kind": "resident", "id": f"{tag}-R1"} in person["records"]
    assert person["provenance"]["name"]["event_id"] == f"{tag}-reg"
    assert person["provenance"]["name"]["agency"] == "civil"
    assert [a["current"] for a in person["addresses"]] == [True]

    by_id = await api.get(f"/v1/persons/{person['person_id']}", headers=CC)
    assert by_id.status_code == 200
    assert person.pop("match") == "exact" and by_id.json() == person

    audited = await db.fetch(
        "SELECT user_name, purpose, outcome FROM audit_log WHERE $1 = ANY(subject_ids)",
        person["person_id"],
    )
    assert [tuple(a) for a in audited] == [("duty-officer-7", "case-handling", "ok-masked")] * 2


async def test_reads_without_a_token_are_refused_and_counted(
    api: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    """Anyone can send requests without a token: they are counted in /metrics, not written
    to the audit log (which an anonymous flood would otherwise fill)."""

    def counted(text: str) -> float:
        m = re.search(r"^hub_api_unauthenticated_total ([0-9.e+]+)$", text, re.M)
        return float(m[1]) if m else 0.0

    before = counted((await api.get("/metrics")).text)
    since = await db.fetchval("SELECT coalesce(max(id), 0) FROM audit_log")
    r = await api.get("/v1/persons/P-0000000000000000")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    bad = await api.get(
        "/v1/persons/P-0000000000000000",
        headers={"Authorization": "Bearer not-a-known-token-at-all"},
    )
    assert bad.status_code == 401
    assert (
        await db.fetchval(
            "SELECT count(*) FROM audit_log WHERE id > $1 AND outcome = 'unauthenticated'", since
        )
        == 0
    )
    assert counted((await api.get("/metrics")).text) >= before + 2


async def test_person_reads_need_a_purpose_and_a_reading_role(api: httpx.AsyncClient) -> None:
    no_purpose = await api.get(
        "/v1/persons/P-0000000000000000", headers={"Authorization": CC["Authorization"]}
    )
    assert no_purpose.status_code == 403
    assert "X-Purpose" in no_purpose.json()["detail"]
    system = await api.get(
        "/v1/persons/P-0000000000000000",
        headers={"Authorization": "Bearer sys-token-0123456789abcdef", "X-Purpose": "duty-watch"},
    )
    assert system.status_code == 403
    missing = await api.get("/v1/persons/P-0000000000000000", headers=CC)
    assert missing.status_code == 404


async def test_a_city_case_is_read_with_its_timeline(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("case")
    events = [
        e for e in story.bulk(seed=3, n_residents=3, n_cases=1, prefix=tag) if e["agency"] == "city"
    ]
    ends = await publish(producer, events)
    await wait_caught_up(db, "hub.internal.streams", ends, main_worker)
    case_id = await db.fetchval(
        "SELECT entity_id FROM record_link WHERE agency = 'city' AND kind = 'case'"
        " AND record_id = $1",
        f"{tag}-C-000000",
    )
    r = await api.get(f"/v1/cases/{case_id}", headers=CC)
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["refs"] == [{"agency": "city", "kind": "case", "id": f"{tag}-C-000000"}]
    assert case["category"] == events[0]["data"]["category"]
    expected_stage = events[-1]["type"].split(".")[-1]
    assert case["stage"] == expected_stage
    assert case["persons"][0]["role"] == "reporter"
    t = await api.get(f"/v1/cases/{case_id}/timeline", headers=CC)
    assert [i["event_id"] for i in t.json()["items"]] == [e["id"] for e in events]


async def test_operators_see_health_metrics_and_openapi(api: httpx.AsyncClient) -> None:
    h = await api.get("/healthz")
    assert h.status_code == 200 and h.json()["status"] == "ok"
    m = await api.get("/metrics")
    assert "hub_consumed_offset" in m.text
    spec = (await api.get("/openapi.json")).json()
    assert "/v1/persons/{person_id}" in spec["paths"]
    assert "/v1/cases/{case_id}" in spec["paths"]


async def test_a_dispute_from_grid_to_police_to_court_is_one_thread(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("thread") + "-"
    events = story.story(seed=7, n_residents=3, tag=tag)
    ends = await publish(producer, events)
    await wait_caught_up(db, "hub.internal.streams", ends, main_worker)
    ids = {}
    for agency, kind, rid in (
        ("city", "case", f"{tag}C-2026-000042"),
        ("police", "case", f"{tag}P-2026-0042"),
        ("court", "case", f"{tag}F-2026-0009"),
    ):
        ids[agency] = await db.fetchval(
            "SELECT entity_id FROM record_link WHERE agency = $1 AND kind = $2 AND record_id = $3",
            agency,
            kind,
            rid,
        )
    views = [(await api.get(f"/v1/cases/{cid}", headers=CC)).json() for cid in ids.values()]
    assert len({v["case_id"] for v in views}) == 1, "any agency's record opens the same thread"
    thread = views[0]
    assert {(r["agency"], r["kind"]) for r in thread["refs"]} >= {
        ("city", "case"),
        ("police", "case"),
        ("court", "case"),
    }
    # the court's mediation settled, but the city has not closed its case (verification
    # before closing): the thread is open, and the city's handling stage is timed again
    assert thread["stage"] == "court-settled" and thread["status"] == "open"
    assert (thread["sla"]["stage"], thread["sla"]["agency"]) == ("handle", "city")
    roles = {p["role"] for p in thread["persons"]}
    # The city's duty officer sees that police hold a suspect, not who (policy).
    assert {"party", "plaintiff", "defendant"} <= roles
    assert "suspect" not in roles and "suspect" not in str(thread)
    assert thread["withheld"]["ask"] == ["court", "police"]  # whom to ask, not what
    timeline = (await api.get(f"/v1/cases/{thread['case_id']}/timeline", headers=CC)).json()
    agencies = [i["agency"] for i in timeline["items"]]
    assert {"city", "police", "court"} <= set(agencies)
    times = [i["time"] for i in timeline["items"]]
    assert times == sorted(times)


async def test_the_grid_board_counts_open_overdue_closed_and_residents(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("grid")
    grid = "99" + tag[-8:].encode().hex()[:12]  # a grid no other test uses
    base = story.EPOCH
    addr = {"text": "北京市朝阳区望京街道阜通东大街6号院3号楼2单元1201室", "grid": grid}

    def city(etype: str, n: int, cid: str, minutes: int, data: dict) -> dict:
        return story.event(
            "city",
            etype,
            f"{tag}-{n}",
            base + timedelta(minutes=minutes),
            cid,
            {"case_id": cid, **data},
        )

    events = [
        city(
            "city.case.reported",
            1,
            f"{tag}-A",
            0,
            {"category": "noise", "description": "d", "channel": "hotline", "address": addr},
        ),
        city("city.case.registered", 2, f"{tag}-A", 1, {"due_at": "2026-11-03T08:00:00+08:00"}),
        city(
            "city.case.reported",
            3,
            f"{tag}-B",
            0,
            {"category": "noise", "description": "d", "channel": "hotline", "address": addr},
        ),
        # B's agency due time passed too, but an approved extension moved its time limit
        # ahead: green on the hub's clock, so not overdue (A, never extended, is red)
        city("city.case.registered", 4, f"{tag}-B", 1, {"due_at": "2026-11-03T08:00:00+08:00"}),
        city(
            "city.case.extended",
            7,
            f"{tag}-B",
            2,
            {
                "case_id": f"{tag}-B",
                "due_at": (datetime.now(UTC) + timedelta(days=300)).isoformat(),
                "reason": "需协调",
                "approved_by": "街道",
            },
        ),
        city(
            "city.case.reported",
            5,
            f"{tag}-C",
            0,
            {"category": "noise", "description": "d", "channel": "hotline", "address": addr},
        ),
        city("city.case.verified", 8, f"{tag}-C", 8, {"passed": True}),
        city("city.case.closed", 6, f"{tag}-C", 9, {"outcome": "ok"}),
        story.event(
            "civil",
            "civil.resident.registered",
            f"{tag}-r",
            base,
            f"{tag}-R",
            {
                "resident_id": f"{tag}-R",
                "household_id": "H",
                "person": {"name": "周杰"},
                "address": addr,
            },
        ),
    ]
    ends = await publish(producer, events)
    await wait_caught_up(db, "hub.internal.streams", ends, main_worker)
    board = (await api.get(f"/v1/grids/{grid}", headers=CC)).json()
    assert board["cases"] == {"open": 2, "overdue": 1, "closed": 1}
    assert board["residents"] == 1
    assert len(board["overdue_case_ids"]) == 1
    assert (await api.get("/v1/grids/00000000000000", headers=CC)).status_code == 404


async def test_name_search_finds_exact_spellings_first_then_names_that_sound_the_same(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("name")
    rng = random.Random(tag)
    pairs = [
        ("张", "章"),
        ("陈", "程"),
        ("周", "邹"),
        ("李", "黎"),
        ("伟", "玮"),
        ("芳", "方"),
        ("明", "铭"),
        ("华", "桦"),
        ("文", "雯"),
        ("林", "琳"),
        ("娜", "纳"),
        ("刚", "钢"),
    ]
    picked = [rng.choice(pairs) for _ in range(5)]  # a name no other test writes
    name = "".join(a for a, _ in picked)
    typed = "".join(b if i % 2 == 0 else a for i, (a, b) in enumerate(picked))  # 张→章, …
    nid = fresh_nid(tag)
    reported = story.event(
        "city",
        "city.case.reported",
        f"{tag}-c",
        story.EPOCH,
        f"{tag}-C",
        {
            "case_id": f"{tag}-C",
            "category": "noise",
            "description": "d",
            "channel": "hotline",
            "address": {"text": "北京市海淀区中关村大街1号", "grid": "110108001001"},
            "reporter": {"name": typed, "phone": "13900000000"},
        },
    )
    resident = resident_event(tag, nid)
    resident["data"]["person"]["name"] = name
    ends = await publish(producer, [resident, reported])
    await wait_caught_up(db, "hub.internal.streams", ends, main_worker)

    found = (await api.get("/v1/persons", params={"name": name}, headers=CC)).json()
    assert [(p["match"], p["names"]) for p in found["items"]] == [
        ("exact", [name]),
        ("sounds-alike", [typed]),
    ]
    assert found["items"][0]["national_id"] == nid[:6] + "*" * 8 + nid[-4:]
    assert found["next"] is None
    spaced = f" {name[:2]}　{name[2:]} "  # an ideographic space, as agencies paste it
    again = (await api.get("/v1/persons", params={"name": spaced}, headers=CC)).json()
    assert [p["person_id"] for p in again["items"]] == [p["person_id"] for p in found["items"]]
    by_variant = (await api.get("/v1/persons", params={"name": typed}, headers=CC)).json()
    assert [p["match"] for p in by_variant["items"]] == ["exact", "sounds-alike"]
    assert by_variant["items"][0]["names"] == [typed]

    page1 = (await api.get("/v1/persons", params={"name": name, "limit": 1}, headers=CC)).json()
    assert [p["match"] for p in page1["items"]] == ["exact"] and page1["next"]
    page2 = (
        await api.get(
            "/v1/persons", params={"name": name, "limit": 1, "cursor": page1["next"]}, headers=CC
        )
    ).json()
    assert [p["match"] for p in page2["items"]] == ["sounds-alike"] and page2["next"] is None

    empty = await api.get("/v1/persons", params={"name": "·"}, headers=CC)
    assert empty.status_code == 400 and "no letters" in empty.json()["detail"]


async def test_a_purpose_is_a_code_and_the_audit_keeps_the_text_as_typed(
    api: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    """Given the policy's purpose codes, when a reader sends a code with Chinese text,
    percent-encoded (as the page does) or as raw UTF-8 (as curl does), then the read is
    allowed and the audit keeps the code and the text as typed; an unknown code is a 400."""
    auth = CC["Authorization"]
    path = f"/v1/persons/P-{uuid.uuid4().hex[:16]}"
    encoded = "duty-watch; " + quote("夜班巡查 12号楼")
    assert (
        await api.get(path, headers={"Authorization": auth, "X-Purpose": encoded})
    ).status_code == 404
    raw = "supervision; 督办 回访".encode()
    assert (
        await api.get(path, headers={"Authorization": auth, "X-Purpose": raw})
    ).status_code == 404
    bad = await api.get(path, headers={"Authorization": auth, "X-Purpose": "integration test"})
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
    assert "GET /v1/purposes" in bad.json()["detail"] and "duty-watch" in bad.json()["purposes"]
    rows = await db.fetch(
        "SELECT purpose, outcome FROM audit_log WHERE path = $1 ORDER BY id", path
    )
    assert [tuple(r) for r in rows] == [
        ("duty-watch; 夜班巡查 12号楼", "not-found"),
        ("supervision; 督办 回访", "not-found"),
        ("integration test", "bad-purpose"),
    ]
    listed = (await api.get("/v1/purposes", headers={"Authorization": auth})).json()["items"]
    assert {
        "code": "duty-watch",
        "label": "值班巡查",
        "labels": {"zh-CN": "值班巡查", "en": "Duty watch"},
    } in listed
    en = (await api.get("/v1/purposes?lang=en", headers={"Authorization": auth})).json()
    assert {i["code"]: i["label"] for i in en["items"]}["duty-watch"] == "Duty watch"
