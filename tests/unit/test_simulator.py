"""The simulated city: deterministic, valid, every agency exercised, noise as configured,
ground truth for every event."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson

from hub.sim.city import Emitted, SimConfig, Simulator, simulate
from projections.intake import InboundRecord, split
from schemas import national_id
from schemas.catalog import load_catalog

AGENCIES = ("police", "city", "civil", "court")


def test_the_same_seed_gives_the_same_city_and_another_seed_another() -> None:
    a = [e.event for e in simulate(SimConfig(seed=4, events=3000))]
    b = [e.event for e in simulate(SimConfig(seed=4, events=3000))]
    c = [e.event for e in simulate(SimConfig(seed=5, events=3000))]
    assert a == b
    assert a != c


def test_every_event_is_valid_and_every_v1_type_occurs() -> None:
    out = simulate(SimConfig(seed=2, events=30_000, noise=0.3))
    recs = [
        InboundRecord(f"agency.{e.event['agency']}", 0, i, None, orjson.dumps(e.event))
        for i, e in enumerate(out)
    ]
    accepted, rejected = split(recs, AGENCIES)
    assert rejected == []
    assert len(accepted) == len(out)
    assert {e.event["type"] for e in out} == {t for (t, v) in load_catalog() if v == 1}


def test_clean_records_carry_valid_identity_numbers_and_noise_is_as_configured() -> None:
    for noise in (0.0, 0.3):
        out = simulate(SimConfig(seed=3, events=10_000, noise=noise))
        with_mentions = [
            e
            for e in out
            if e.truth.get("persons")
            and e.event["type"]
            not in ("civil.resident.moved", "civil.resident.deceased", "civil.assistance.granted")
        ]
        noisy = sum(e.truth["noisy"] for e in with_mentions) / len(with_mentions)
        assert abs(noisy - noise) < 0.03, noisy
        for e in out:
            if e.event["type"] == "civil.resident.registered" and not e.truth["noisy"]:
                assert national_id.is_valid(e.event["data"]["person"]["national_id"])


def test_the_ground_truth_names_a_real_person_place_and_matter_for_each_mention() -> None:
    out = simulate(SimConfig(seed=6, events=10_000, noise=0.1))
    ids = Counter(e.event["id"] for e in out)
    assert max(ids.values()) == 1
    for e in out:
        assert e.truth["id"] == e.event["id"] and e.truth["source"] == e.event["source"]
        for path, person in e.truth.get("persons", {}).items():
            assert person.startswith("TP-"), path
        for place in e.truth.get("places", {}).values():
            assert place.startswith("TPL-")
        if e.event["agency"] in ("police", "court") or e.event["type"].startswith("city.case"):
            assert e.truth.get("matter", "").startswith("TM-"), e.event["type"]


def test_grid_codes_nest_like_the_real_ones() -> None:
    out = simulate(SimConfig(seed=7, events=5000))
    for e in out:
        addr = e.event["data"].get("address")
        if addr:
            grid = addr["grid"]
            assert len(grid) == 14 and grid.isdigit()  # district 6 + street 3 + community 3 + 2
            assert grid[:6] in {"110105", "110108", "110102", "110106", "110114", "110112"}


def test_a_diverted_call_the_police_kept_is_the_matter_of_the_city_case_it_repeats() -> None:
    t = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def ev(kind: str, minutes: int, matter: str, place: str, category: str) -> Emitted:
        data = {"category": category}
        return Emitted(
            t + timedelta(minutes=minutes),
            {"type": kind, "data": data},
            {"matter": matter, "places": {"address": place}},
        )

    def case(minutes: int, matter: str, place: str, category: str) -> Emitted:
        return ev("city.case.reported", minutes, matter, place, category)

    def call(matter: str, place: str, category: str) -> Emitted:
        return ev("police.incident.reported", 0, matter, place, category)

    sim = Simulator(SimConfig(seed=1, events=100))
    noise, dispute, early, alone, theft = (
        call("M-noise", "P1", "noise"),
        call("M-dispute", "P2", "dispute"),
        call("M-early", "P3", "dispute"),
        call("M-alone", "P4", "noise"),
        call("M-theft", "P5", "theft"),
    )
    sim.out = [
        case(100, "M-again", "P1", "noise"),  # the caller again, 1 h 40 min later
        case(110, "M-later", "P1", "noise"),  # further from the call than the first
        case(5, "M-garbage", "P1", "garbage"),  # another category
        case(-30, "M-grid", "P2", "neighbour-dispute"),  # the grid member, 30 min before
        case(-31, "M-before", "P3", "neighbour-dispute"),  # before the window
        case(121, "M-after", "P4", "noise"),  # after the window
        case(3, "M-elsewhere", "P4", "garbage"),
        case(3, "M-theft-case", "P5", "noise"),  # a theft is not diverted
    ]
    sim._repeats([noise, dispute, early, alone, theft])
    assert [c.truth["matter"] for c in (noise, dispute, early, alone, theft)] == [
        "M-again",
        "M-grid",
        "M-early",
        "M-alone",
        "M-theft",
    ]
