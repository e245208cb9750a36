"""Nothing restricted leaks by any route (issue 11): a city with a sealed court case, a
person known only as a police suspect and a resident on assistance, read by every route as
each agency's reader; the values each kind of restriction covers never appear in the bytes
of an answer to a reader it is withheld from, and the readers it is for do see them."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from hub.sim import story
from projections.graph import canonical_persons
from tests.integration.conftest import Worker, publish, unique, wait_caught_up
from tests.integration.test_person_flow import fresh_nid

READERS = {
    "city": "cc-token-0123456789abcdef",
    "civil": "civil-token-0123456789abcdef",
    "police": "police-token-0123456789abcdef",
    "court": "court-token-0123456789abcdef",
}
# which agencies each kind of restricted content is for (hub/policy.toml)
VISIBLE_TO = {
    "sealed": {"court"},
    "suspect": {"police", "court"},
    "assistance": {"civil"},
    "graded": {"police"},  # secret fields in full: investigators (the police reader here)
}


def _headers(agency: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {READERS[agency]}", "X-Purpose": "case-handling"}


async def test_restricted_values_never_reach_a_reader_they_are_withheld_from(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("leak")
    t0 = story.EPOCH
    grid = "97" + tag[-8:].encode().hex()[:12]
    home = {"text": f"北京市朝阳区望京街道阜通东大街{tag[-4:]}号院1号楼1单元101室", "grid": grid}
    scene = {"text": f"北京市朝阳区望京街道广顺北大街{tag[-4:]}号", "grid": grid}
    nid_a, nid_b, nid_s = (fresh_nid(f"{tag}-{x}") for x in "abs")
    digits = str(int(tag[-6:], 16)).zfill(8)[-8:]
    name_a, name_b, name_s = "甲" + tag[-4:], "乙" + tag[-4:], "丙" + tag[-4:]
    phone_a, phone_b, phone_s = "136" + digits, "139" + digits, "137" + digits
    city_case, court_case, police_case = f"{tag}-C", f"{tag}-F", f"{tag}-P"
    ev = story.event
    events = [
        ev(
            "civil",
            "civil.resident.registered",
            f"{tag}-1",
            t0,
            f"{tag}-R",
            {
                "resident_id": f"{tag}-R",
                "household_id": "H",
                "address": home,
                "person": {"national_id": nid_a, "name": name_a, "phone": phone_a},
            },
        ),
        ev(
            "civil",
            "civil.assistance.granted",
            f"{tag}-2",
            t0 + timedelta(hours=1),
            f"{tag}-R",
            {
                "resident_id": f"{tag}-R",
                "program": "elderly-care",
                "monthly_amount": 1200,
                "from": "2026-07-28",
            },
        ),
        ev(
            "city",
            "city.case.reported",
            f"{tag}-3",
            t0 + timedelta(days=1),
            city_case,
            {
                "case_id": city_case,
                "category": "neighbour-dispute",
                "description": "纠纷",
                "channel": "grid-member",
                "address": home,
                "persons": [
                    {"role": "party", "person": {"name": name_a, "national_id": nid_a}},
                    {"role": "party", "person": {"name": name_b, "phone": phone_b}},
                ],
            },
        ),
        ev(
            "court",
            "court.case.filed",
            f"{tag}-4",
            t0 + timedelta(days=3),
            court_case,
            {
                "case_id": court_case,
                "case_type": "civil",
                "cause": "相邻关系纠纷",
                "parties": [
                    {"role": "plaintiff", "person": {"name": name_a, "national_id": nid_a}},
                    {
                        "role": "defendant",
                        "person": {"name": name_b, "national_id": nid_b, "phone": phone_b},
                    },
                ],
                "refs": [{"agency": "city", "kind": "case", "id": city_case}],
            },
        ),
        ev(
            "court",
            "court.case.sealed",
            f"{tag}-5",
            t0 + timedelta(days=4),
            court_case,
            {"case_id": court_case, "reason": "未成年人"},
        ),
        ev(
            "police",
            "police.case.opened",
            f"{tag}-6",
            t0 + timedelta(days=2),
            police_case,
            {"case_id": police_case, "offence": "盗窃", "address": scene},
        ),
        ev(
            "police",
            "police.person.involved",
            f"{tag}-7",
            t0 + timedelta(days=2, hours=1),
            police_case,
            {
                "case_id": police_case,
                "role": "suspect",
                "person": {"name": name_s, "national_id": nid_s, "phone": phone_s},
            },
        ),
    ]
    ends = await publish(producer, events)
    await wait_caught_up(db, "hub.internal.streams", ends, main_worker)

    links = {
        r["record_id"]: r["entity_id"]
        for r in await db.fetch(
            "SELECT record_id, entity_id FROM record_link WHERE entity_kind = 'case'"
            " AND record_id = ANY($1::text[])",
            [city_case, court_case, police_case],
        )
    }
    sealed_nodes = [links[city_case], links[court_case]]
    records = {
        "a": f"civil:resident:{tag}-R",
        "b": f"court:case-party:{court_case}/1",
        "s": f"police:case-party:{police_case}/suspect/{tag}-7",
    }
    pids = await canonical_persons(db, list(records.values()))
    places = [
        r[0]
        for r in await db.fetch(
            "SELECT DISTINCT member FROM entity_member WHERE entity_kind = 'case'"
            " AND relation = 'place' AND entity_id = ANY($1::text[])",
            [links[city_case], links[police_case]],
        )
    ]
    secrets = {
        "sealed": [court_case, city_case, *sealed_nodes, name_b, phone_b, nid_b],
        "suspect": [name_s, phone_s, nid_s, "suspect", pids[records["s"]]],
        "assistance": ["elderly-care", "monthly_amount"],
        "graded": [nid_a, phone_a],
    }
    routes = [
        *(f"/v1/persons?name={n}" for n in (name_a, name_b, name_s)),
        *(f"/v1/persons?national_id={n}" for n in (nid_a, nid_b, nid_s)),
        *(f"/v1/persons/{p}" for p in pids.values()),
        *(f"/v1/persons/{p}/candidates" for p in pids.values()),
        f"/v1/cases?grid={grid}",
        "/v1/cases?agency=court&limit=200",
        f"/v1/cases?agency=police&grid={grid}",
        f"/v1/cases?grid={grid}&stage=court-filed",
        f"/v1/cases?grid={grid}&overdue=false",
        *(f"/v1/cases/{c}" for c in links.values()),
        *(f"/v1/cases/{c}/timeline" for c in links.values()),
        *(f"/v1/places/{p}" for p in places),
        f"/v1/places?grid={grid}",
        f"/v1/places?address={home['text']}",
        "/v1/grids",
        f"/v1/grids/{grid}",
    ]
    seen_by: dict[str, set[str]] = {a: set() for a in READERS}
    for agency in READERS:
        for route in routes:
            r = await api.get(route, headers=_headers(agency))
            assert r.status_code < 500, (agency, route, r.text)
            # what the reader asked by may come back (a case id echoed): not a leak
            body = r.text
            for asked in (*sealed_nodes, pids[records["s"]], court_case):
                if asked in route:
                    body = body.replace(asked, "")
            for kind, values in secrets.items():
                for value in values:
                    if value in body:
                        seen_by[agency].add(kind)
                        assert agency in VISIBLE_TO[kind], (agency, route, kind, value, body)
    # the test can see what it looks for: each kind reaches the readers it is for
    for kind, agencies in VISIBLE_TO.items():
        for agency in agencies:
            assert kind in seen_by[agency], (agency, kind)
