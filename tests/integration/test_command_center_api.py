"""The rest of contract section 5: places, case lists, and who looked at a person."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from hub.sim import story
from tests.integration.conftest import CC, Worker, publish, unique, wait_caught_up
from tests.integration.test_person_flow import fresh_nid

AUDITOR = {"Authorization": "Bearer aud-token-0123456789abcdef"}


async def test_places_cases_and_the_audit_trail_of_a_person(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("cc")
    grid = "98" + tag[-8:].encode().hex()[:12]
    nid = fresh_nid(tag)
    home = {"text": "北京市朝阳区望京街道阜通东大街6号院3号楼2单元1201室", "grid": grid}
    t = story.EPOCH
    events = [
        story.event(
            "civil",
            "civil.resident.registered",
            f"{tag}-r",
            t,
            f"{tag}-R",
            {
                "resident_id": f"{tag}-R",
                "household_id": "H",
                "address": home,
                "person": {"national_id": nid, "name": "郑爽"},
            },
        ),
        story.event(
            "city",
            "city.case.reported",
            f"{tag}-c1",
            t,
            f"{tag}-C1",
            {
                "case_id": f"{tag}-C1",
                "category": "garbage",
                "description": "d",
                "channel": "grid-member",
                "address": home,
            },
        ),
        story.event(
            "city",
            "city.case.registered",
            f"{tag}-c2",
            t + timedelta(minutes=5),
            f"{tag}-C1",
            {"case_id": f"{tag}-C1", "due_at": "2026-11-03T08:00:00+08:00"},
        ),
    ]
    ends = await publish(producer, events)
    await wait_caught_up(db, "hub.internal.streams", ends, main_worker)

    # The same address written another way finds the same place.
    other_spelling = "朝阳区阜通东大街六号院3栋2单元12层1201室"
    found = (
        await api.get("/v1/places", params={"address": other_spelling, "grid": grid}, headers=CC)
    ).json()["items"]
    assert len(found) == 1
    place = found[0]
    assert place["grid"] == grid and place["address"]["room"] == 1201
    person = (await api.get("/v1/persons", params={"national_id": nid}, headers=CC)).json()
    pid = person["items"][0]["person_id"]
    assert place["residents"] == [pid]
    assert (await api.get(f"/v1/places/{place['place_id']}", headers=CC)).json() == place
    in_grid = (await api.get("/v1/places", params={"grid": grid}, headers=CC)).json()
    assert [p["place_id"] for p in in_grid["items"]] == [place["place_id"]]

    cases = (
        await api.get("/v1/cases", params={"grid": grid, "overdue": "true"}, headers=CC)
    ).json()
    assert [c["stage"] for c in cases["items"]] == ["registered"]
    assert cases["items"][0]["overdue"] is True
    none = (
        await api.get("/v1/cases", params={"grid": grid, "status": "closed"}, headers=CC)
    ).json()
    assert none["items"] == []
    bad = await api.get("/v1/cases", params={"status": "maybe"}, headers=CC)
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"

    trail = (await api.get(f"/v1/audit/subjects/{pid}", headers=AUDITOR)).json()["items"]
    assert trail and {(i["user"], i["purpose"], i["outcome"]) for i in trail} >= {
        ("duty-officer-7", "case-handling", "ok")
    }
    assert (await api.get(f"/v1/audit/subjects/{pid}", headers=CC)).status_code == 403


async def test_the_command_center_page_is_served_without_any_outside_resource(
    api: httpx.AsyncClient,
) -> None:
    page = await api.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/ui/app.js" in page.text and "/ui/style.css" in page.text
    # No CDN (closed networks). The bundle names the SVG namespace and Leaflet's home page
    # (in an attribution control the page turns off); nothing else from outside.
    allowed = {"http://www.w3.org/2000/svg", "https://leafletjs.com"}
    for asset in ("/", "/ui/app.js", "/ui/style.css", "/ui/fonts.css"):
        r = await api.get(asset)
        assert r.status_code == 200
        assert set(re.findall(r"https?://[^\s\"'()]+", r.text)) <= allowed, asset
    font = re.search(r"url\((fonts/[^)]+\.woff2)\)", (await api.get("/ui/fonts.css")).text)
    assert font and (await api.get(f"/ui/{font[1]}")).status_code == 200, "the hub serves its font"
    grids = await api.get("/v1/grids", headers=CC)
    assert grids.status_code == 200 and isinstance(grids.json()["items"], list)
    drawn = await api.get("/v1/map/grids", headers=CC)
    assert drawn.status_code == 200 and drawn.json()["type"] == "FeatureCollection"
    assert all(
        f["geometry"]["type"] == "Polygon" and "overdue_share" in f["properties"]
        for f in drawn.json()["features"]
    )
    assert (await api.get("/v1/map/grids")).status_code == 401
    assert (await api.get("/ui/settings.json")).json()["timezone"] == "Asia/Shanghai"


async def test_the_api_docs_load_on_a_closed_network(api: httpx.AsyncClient) -> None:
    """/docs names only the hub's own assets (Swagger UI from a package, not a CDN)."""
    docs = await api.get("/docs")
    assert docs.status_code == 200
    assert re.findall(r"https?://[^\s\"'()]+", docs.text) == []
    for asset in re.findall(r"['\"](/docs-assets/[^'\"]+)['\"]", docs.text):
        assert (await api.get(asset)).status_code == 200, asset
    assert "/docs-assets/swagger-ui-bundle.js" in docs.text


async def test_sealed_cases_and_suspects_are_shown_only_to_whom_the_policy_names(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("seal") + "-"
    events = story.story(seed=31, n_residents=3, tag=tag)  # a seed no other test uses
    sealed = story.event(
        "court",
        "court.case.sealed",
        f"{tag}seal",
        story.EPOCH + timedelta(days=30),
        f"{tag}F-2026-0009",
        {"case_id": f"{tag}F-2026-0009", "reason": "未成年人"},
    )
    ends = await publish(producer, [*events, sealed])
    await wait_caught_up(db, "hub.internal.streams", ends, main_worker)
    court = {"Authorization": "Bearer court-token-0123456789abcdef", "X-Purpose": "hearing"}
    police = {"Authorization": "Bearer police-token-0123456789abcdef", "X-Purpose": "investigation"}
    cid = await db.fetchval(
        "SELECT entity_id FROM record_link WHERE agency = 'court'"
        " AND kind = 'case' AND record_id = $1",
        f"{tag}F-2026-0009",
    )

    as_city = (await api.get(f"/v1/cases/{cid}", headers=CC)).json()
    assert as_city == {"case_id": as_city["case_id"], "status": "restricted", "ask": ["court"]}
    assert (await api.get(f"/v1/cases/{cid}/timeline", headers=CC)).status_code == 403
    as_court = (await api.get(f"/v1/cases/{cid}", headers=court)).json()
    assert as_court["sealed"] is True and as_court["refs"]
    assert (await api.get(f"/v1/cases/{cid}/timeline", headers=court)).status_code == 200

    suspect_nid = events[0]["data"]["person"]["national_id"]
    seen_by_city = (
        await api.get("/v1/persons", params={"national_id": suspect_nid}, headers=CC)
    ).json()["items"][0]
    # the thread is sealed: it is listed as something to ask the court about, and neither
    # its id nor the court's case number nor the suspect's record shows by this route
    assert seen_by_city["withheld"]["ask"] == ["court", "police"]  # whom, not why
    assert seen_by_city["cases"] == [] and seen_by_city["records"]  # the resident record shows
    for hidden in (as_court["case_id"], *as_court.get("also_known_as", []), f"{tag}F-2026-0009"):
        assert hidden not in str(seen_by_city), hidden
    assert "suspect" not in str(seen_by_city["records"])
    seen_by_court = (
        await api.get("/v1/persons", params={"national_id": suspect_nid}, headers=court)
    ).json()["items"][0]
    assert as_court["case_id"] in {c["case_id"] for c in seen_by_court["cases"]}
    seen_by_police = (
        await api.get("/v1/persons", params={"national_id": suspect_nid}, headers=police)
    ).json()["items"][0]
    assert as_court["case_id"] not in str(seen_by_police)  # sealed for the police too
    outcome = await db.fetchval(
        "SELECT outcome FROM audit_log WHERE user_name = 'duty-officer-7' AND $1 = ANY(subject_ids)"
        " ORDER BY id DESC LIMIT 1",
        seen_by_city["person_id"],
    )
    assert outcome == "ok-masked"


async def test_places_with_coordinates_are_points_on_the_grid_map(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    tag = unique("pt")
    report = story.event(
        "city",
        "city.case.reported",
        f"{tag}-r",
        story.EPOCH,
        f"{tag}-C",
        {
            "case_id": f"{tag}-C",
            "category": "garbage",
            "description": "垃圾",
            "channel": "grid-member",
            "address": {
                "text": f"北京市朝阳区望京街道阜通东大街{tag[-3:]}号",
                "grid": "11010500100102",
                "lat": 39.9081,
                "lon": 116.4391,
            },
        },
    )
    await wait_caught_up(db, "hub.internal.streams", await publish(producer, [report]), main_worker)
    places = (await api.get("/v1/map/grids", headers=CC)).json()["places"]["features"]
    mine = [f for f in places if f["geometry"]["coordinates"] == [116.4391, 39.9081]]
    assert mine and mine[0]["geometry"]["type"] == "Point"
    assert mine[0]["properties"]["grid"] == "11010500100102"
    assert (
        await api.get(f"/v1/places/{mine[0]['properties']['place_id']}", headers=CC)
    ).status_code == 200


async def test_one_thread_reads_the_same_everywhere(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, db: asyncpg.Pool, main_worker: Worker
) -> None:
    """A matter the city, the police and the court each recorded: one id, one reading, in
    the case read, the case list (and its filters), a person's cases and the grid board."""
    tag = unique("one") + "-"
    events = story.story(seed=53, n_residents=3, tag=tag)
    ends = await publish(producer, events)
    await wait_caught_up(db, "hub.internal.streams", ends, main_worker)
    court_id = await db.fetchval(
        "SELECT entity_id FROM record_link WHERE agency = 'court'"
        " AND kind = 'case' AND record_id = $1",
        f"{tag}F-2026-0009",
    )
    alone = (await api.get(f"/v1/cases/{court_id}", headers=CC)).json()
    tid, aka = alone["case_id"], alone["also_known_as"]
    assert {r["agency"] for r in alone["refs"]} >= {"city", "police", "court"} and aka
    for old in [court_id, *aka]:  # every record's id answers with the thread
        assert (await api.get(f"/v1/cases/{old}", headers=CC)).json()["case_id"] == tid

    async def listed(**params: str) -> list[dict]:
        items, cursor = [], None
        while True:
            page = await api.get(
                "/v1/cases",
                params={**params, "limit": "7", **({"cursor": cursor} if cursor else {})},
                headers=CC,
            )
            assert page.status_code == 200, page.text
            items += page.json()["items"]
            cursor = page.json()["next"]
            if cursor is None:
                return items

    in_grid = await listed(grid=alone["grid"])
    assert len({i["case_id"] for i in in_grid}) == len(in_grid)  # each thread once
    assert [i for i in in_grid if i["case_id"] in {tid, *aka}] == [alone]
    assert tid in {i["case_id"] for i in await listed(grid=alone["grid"], stage=alone["stage"])}
    assert tid in {i["case_id"] for i in await listed(grid=alone["grid"], agency="court")}
    other = "reported" if alone["stage"] != "reported" else "closed"
    assert tid not in {i["case_id"] for i in await listed(grid=alone["grid"], stage=other)}

    nid = events[0]["data"]["person"]["national_id"]
    person = (await api.get("/v1/persons", params={"national_id": nid}, headers=CC)).json()
    ids = [c["case_id"] for c in person["items"][0]["cases"]]
    assert ids.count(tid) == 1 and not set(aka) & set(ids)

    board = (await api.get(f"/v1/grids/{alone['grid']}", headers=CC)).json()
    assert (tid in board["overdue_case_ids"]) == alone["overdue"]
    assert not set(aka) & set(board["overdue_case_ids"])
