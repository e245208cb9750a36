"""A small scripted city for ``civic-hub demo`` and the tests:
residents registered by civil affairs, and one neighbour dispute that a grid member
reports, the police take up and a court hears. Deterministic for a seed.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.geo import point_in_grid
from hub.sim.people import COMMON_GIVEN, COMMON_SURNAMES, national_id

DISTRICT = ("110105", "朝阳区")
STREETS = [("001", "望京街道"), ("002", "酒仙桥街道")]
ROADS = ["阜通东大街", "广顺北大街", "将台路", "酒仙桥路"]
EPOCH = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def event(
    agency: str, etype: str, eid: str, time: datetime, subject: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": eid,
        "source": f"/agency/{agency}/demo",
        "type": etype,
        "time": time.isoformat(),
        "subject": subject,
        "agency": agency,
        "datacontenttype": "application/json",
        "dataschema": f"https://civic-hub.example/schemas/{agency}/{etype}/v1",
        "data": data,
    }


def residents(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        female = rng.random() < 0.5
        birth = datetime(1940, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(0, 365 * 65))
        street_code, street = STREETS[i % len(STREETS)]
        # district (6) + street (3) + community (3) + grid (2), as the simulated city's codes
        grid = f"{DISTRICT[0]}{street_code}001{(i // 7) % 3 + 1:02d}"
        road = ROADS[i % len(ROADS)]
        text = (
            f"北京市{DISTRICT[1]}{street}{road}{i % 40 + 1}号"
            f"{i % 6 + 1}号楼{i % 3 + 1}单元{101 + i % 9}室"
        )
        out.append(
            {
                "resident_id": f"R-{i + 1:06d}",
                "household_id": f"H-{i // 3 + 1:06d}",
                "person": {
                    "national_id": national_id(rng, DISTRICT[0], birth, female),
                    "name": rng.choice(COMMON_SURNAMES) + rng.choice(COMMON_GIVEN),
                    "gender": "F" if female else "M",
                    "birth_date": f"{birth:%Y-%m-%d}",
                    "phone": f"13{rng.randrange(0, 10**9):09d}",
                },
                "address": {"text": text, "grid": grid},
            }
        )
    return out


def story(
    seed: int = 7, n_residents: int = 20, tag: str = "", epoch: datetime = EPOCH
) -> list[dict[str, Any]]:
    """The events of the scripted city, in event-time order. ``tag`` prefixes every event,
    record and case id, so the same story can be told twice without reusing an id; the
    story starts at ``epoch`` (the demo starts it two days ago)."""
    rng = random.Random(seed)
    people = residents(rng, n_residents)
    for r in people:  # the same story told twice names its own residents
        r["resident_id"] = f"{tag}{r['resident_id']}"
    events: list[dict[str, Any]] = []
    t = epoch
    for i, r in enumerate(people):
        events.append(
            event(
                "civil",
                "civil.resident.registered",
                f"{tag}civ-reg-{i + 1}",
                t + timedelta(minutes=i),
                r["resident_id"],
                {k: r[k] for k in ("resident_id", "person", "address", "household_id")},
            )
        )
    a, b = people[0], people[1]
    t = epoch + timedelta(days=1)
    case_id, inc_id, pcase, ccase = (
        f"{tag}C-2026-000042",
        f"{tag}I-2026-110-0007",
        f"{tag}P-2026-0042",
        f"{tag}F-2026-0009",
    )
    dispute: dict[str, Any] = {"text": a["address"]["text"], "grid": a["address"]["grid"]}
    point = point_in_grid(dispute["grid"], dispute["text"])
    if point:  # the grid member's report carries where it was made
        dispute |= {"lon": point[0], "lat": point[1]}
    script = [
        (
            "city",
            "city.case.reported",
            case_id,
            0,
            {
                "case_id": case_id,
                "category": "neighbour-dispute",
                "description": "楼上楼下噪音纠纷，双方争执",
                "channel": "grid-member",
                "address": dispute,
                "persons": [
                    {"role": "party", "person": a["person"]},
                    {"role": "party", "person": b["person"]},
                ],
            },
        ),
        (
            "city",
            "city.case.registered",
            case_id,
            10,
            {
                "case_id": case_id,
                "level": "community",
                "due_at": (t + timedelta(hours=24)).isoformat(),
            },
        ),
        (
            "city",
            "city.case.dispatched",
            case_id,
            30,
            {
                "case_id": case_id,
                "department": "望京街道综治中心",
                "due_at": (t + timedelta(hours=48)).isoformat(),
            },
        ),
        (
            "police",
            "police.incident.reported",
            inc_id,
            60 * 20,
            {
                "incident_id": inc_id,
                "category": "dispute",
                "summary": "邻里纠纷升级，有推搡",
                "address": dispute,
                "caller": b["person"],
            },
        ),
        (
            "city",
            "city.case.escalated",
            case_id,
            60 * 21,
            {"case_id": case_id, "to_agency": "police", "reason": "纠纷升级"},
        ),
        (
            "police",
            "police.case.opened",
            pcase,
            60 * 22,
            {
                "case_id": pcase,
                "offence": "寻衅滋事",
                "incident_id": inc_id,
                "address": dispute,
                "refs": [{"agency": "city", "kind": "case", "id": case_id}],
            },
        ),
        (
            "police",
            "police.person.involved",
            pcase,
            60 * 23,
            {"case_id": pcase, "role": "suspect", "person": a["person"]},
        ),
        (
            "police",
            "police.case.closed",
            pcase,
            60 * 24 * 5,
            {"case_id": pcase, "disposition": "移送法院调解"},
        ),
        (
            "court",
            "court.case.filed",
            ccase,
            60 * 24 * 6,
            {
                "case_id": ccase,
                "case_type": "civil",
                "cause": "相邻关系纠纷",
                "parties": [
                    {"role": "plaintiff", "person": b["person"]},
                    {"role": "defendant", "person": a["person"]},
                ],
                "refs": [
                    {"agency": "police", "kind": "case", "id": pcase},
                    {"agency": "city", "kind": "case", "id": case_id},
                ],
            },
        ),
        (
            "court",
            "court.mediation.concluded",
            ccase,
            60 * 24 * 9,
            {"case_id": ccase, "settled": True},
        ),
    ]
    for n, (agency, etype, subject, minutes, data) in enumerate(script):
        events.append(
            event(
                agency,
                etype,
                f"{tag}{agency}-story-{n + 1}",
                t + timedelta(minutes=minutes),
                subject,
                data,
            )
        )
    # Another open city case, due in the past: shows as overdue.
    c = people[2]
    events.append(
        event(
            "city",
            "city.case.reported",
            f"{tag}city-story-late-1",
            t,
            f"{tag}C-2026-000043",
            {
                "case_id": f"{tag}C-2026-000043",
                "category": "garbage",
                "description": "楼道堆放杂物",
                "channel": "hotline",
                "address": c["address"],
                "reporter": c["person"],
            },
        )
    )
    events.append(
        event(
            "city",
            "city.case.registered",
            f"{tag}city-story-late-2",
            t + timedelta(minutes=5),
            f"{tag}C-2026-000043",
            {"case_id": f"{tag}C-2026-000043", "due_at": (t + timedelta(hours=4)).isoformat()},
        )
    )
    events.sort(key=lambda e: e["time"])
    return events


def bulk(seed: int, n_residents: int, n_cases: int, prefix: str = "bulk") -> list[dict[str, Any]]:
    """A larger mixed stream for load and failure tests: registrations, moves, deaths and
    city cases walking their stages, all with ids unique to ``prefix``."""
    rng = random.Random(seed)
    people = residents(rng, n_residents)
    out: list[dict[str, Any]] = []
    t = EPOCH
    for i, r in enumerate(people):
        rid = f"{prefix}-{r['resident_id']}"
        out.append(
            event(
                "civil",
                "civil.resident.registered",
                f"{prefix}-reg-{i}",
                t + timedelta(seconds=i),
                rid,
                {
                    "resident_id": rid,
                    "person": r["person"],
                    "address": r["address"],
                    "household_id": f"{prefix}-{r['household_id']}",
                },
            )
        )
        if rng.random() < 0.2:
            other = people[rng.randrange(n_residents)]["address"]
            out.append(
                event(
                    "civil",
                    "civil.resident.moved",
                    f"{prefix}-mov-{i}",
                    t + timedelta(days=1, seconds=i),
                    rid,
                    {
                        "resident_id": rid,
                        "address": other,
                        "moved_on": f"{t + timedelta(days=1):%Y-%m-%d}",
                    },
                )
            )
        if rng.random() < 0.02:
            out.append(
                event(
                    "civil",
                    "civil.resident.deceased",
                    f"{prefix}-dec-{i}",
                    t + timedelta(days=2, seconds=i),
                    rid,
                    {"resident_id": rid, "died_on": f"{t + timedelta(days=2):%Y-%m-%d}"},
                )
            )
    stages = [
        "city.case.registered",
        "city.case.dispatched",
        "city.case.handled",
        "city.case.verified",
        "city.case.closed",
    ]
    for j in range(n_cases):
        cid = f"{prefix}-C-{j:06d}"
        who = people[rng.randrange(n_residents)]
        t0 = t + timedelta(hours=rng.randrange(0, 24 * 10))
        out.append(
            event(
                "city",
                "city.case.reported",
                f"{prefix}-rep-{j}",
                t0,
                cid,
                {
                    "case_id": cid,
                    "category": rng.choice(
                        ["garbage", "noise", "neighbour-dispute", "road-damage", "illegal-parking"]
                    ),
                    "description": "网格员巡查发现",
                    "channel": rng.choice(["grid-member", "hotline"]),
                    "address": who["address"],
                    "reporter": who["person"],
                },
            )
        )
        for k, etype in enumerate(stages[: rng.randrange(0, len(stages) + 1)]):
            tk = t0 + timedelta(hours=2 * (k + 1))
            data: dict[str, Any] = {"case_id": cid}
            if etype == "city.case.registered":
                data["due_at"] = (tk + timedelta(hours=24)).isoformat()
            elif etype == "city.case.dispatched":
                data |= {
                    "department": "城管执法队",
                    "due_at": (tk + timedelta(hours=48)).isoformat(),
                }
            elif etype == "city.case.handled":
                data["result"] = "已处理"
            elif etype == "city.case.verified":
                data["passed"] = True
            else:
                data["outcome"] = "结案"
            out.append(event("city", etype, f"{prefix}-{etype.split('.')[-1]}-{j}", tk, cid, data))
    return out
