"""The projection is a pure function of the ordered log: told as stories over the scripted city."""

from __future__ import annotations

import random
from typing import Any

import orjson

from hub.sim import story
from projections.ids import hub_id
from projections.intake import InboundRecord, check
from projections.memory import InMemoryReadModel
from projections.project import Accepted

AGENCIES = ("police", "city", "civil", "court")


def accepted(events: list[dict[str, Any]]) -> list[Accepted]:
    """Through the real intake checks (envelope, schema, upcast), as the worker does."""
    out = []
    for i, e in enumerate(events):
        rec = InboundRecord(
            f"agency.{e['agency']}", hash(e["subject"]) % 4, i, None, orjson.dumps(e)
        )
        a = check(rec, AGENCIES)
        assert isinstance(a, Accepted), a
        out.append(a)
    return out


def model_of(batches: list[list[Accepted]]) -> InMemoryReadModel:
    m = InMemoryReadModel()
    for b in batches:
        m.apply(b)
    return m


def test_given_a_resident_registered_then_the_person_carries_provenance() -> None:
    events = story.story(seed=1, n_residents=3)
    m = model_of([accepted(events)])
    nid = events[0]["data"]["person"]["national_id"]
    rec = f"civil:resident:{events[0]['data']['resident_id']}"
    name = m.fields[("record", rec, "name")]
    assert name.value == events[0]["data"]["person"]["name"]
    assert (name.agency, name.stamp[2]) == ("civil", events[0]["id"])
    assert f"nid:{nid}" in m.component(rec)


def test_given_a_dispute_across_agencies_then_one_person_holds_every_role() -> None:
    events = story.story(seed=1, n_residents=3)
    m = model_of([accepted(events)])
    a = events[0]["data"]["person"]["national_id"]
    records = m.component(f"nid:{a}") - {f"nid:{a}"}
    assert {r.split(":")[0] for r in records} == {"civil", "city", "police", "court"}
    roles = {r.split("/")[-1] for rec in records for r in m.members_of("record", rec, "case")}
    assert roles == {"party", "suspect", "defendant"}


def test_when_a_city_case_closes_then_its_stage_and_status_follow_event_time() -> None:
    events = story.bulk(seed=5, n_residents=5, n_cases=40, prefix="t")
    m = model_of([accepted(events)])
    closed = {e["data"]["case_id"] for e in events if e["type"] == "city.case.closed"}
    assert closed
    for case_id in closed:
        cid = hub_id("C", f"city:case:{case_id}")
        assert m.field("case", cid, "status") == "closed"
        assert m.field("case", cid, "stage") == "closed"


def test_the_same_event_twice_is_applied_once() -> None:
    events = story.bulk(seed=2, n_residents=10, n_cases=5, prefix="d")
    once = model_of([accepted(events)])
    twice = model_of([accepted(events), accepted(events[:7])])
    assert once == twice


def test_any_batching_and_any_interleaving_of_partitions_gives_the_same_model() -> None:
    """Partitions keep their own order but interleave arbitrarily between each other, and a
    restart cuts batches anywhere: the read model must not notice."""
    events = story.story(seed=3, n_residents=8) + story.bulk(
        seed=4, n_residents=30, n_cases=30, prefix="i"
    )
    events.sort(key=lambda e: e["time"])
    reference = model_of([accepted(events)])
    rng = random.Random(99)
    by_partition: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in events:
        by_partition.setdefault((e["agency"], e["subject"]), []).append(e)
    for _ in range(5):
        queues = [list(q) for q in by_partition.values()]
        interleaved = []
        while queues:
            q = rng.choice(queues)
            interleaved.append(q.pop(0))
            if not q:
                queues.remove(q)
        cuts = sorted(rng.sample(range(1, len(interleaved)), 12))
        batches = [
            interleaved[a:b] for a, b in zip([0, *cuts], [*cuts, len(interleaved)], strict=True)
        ]
        got = model_of([accepted(b) for b in batches])
        assert got.fields == reference.fields
        assert got.members == reference.members
        assert got.mentions == reference.mentions
        assert got.edges == reference.edges
        assert got.cases == reference.cases


def test_one_address_written_four_ways_is_one_place_and_distinct_addresses_stay_apart() -> None:
    """Every full spelling of a room has one key; the building-unit-room shorthand has a key
    of its own, within its grid (joined to the full address when read, by the grid's one full
    address with that room: tests/integration/test_room_places.py)."""
    from hub.sim.city import SimConfig, Simulator
    from projections.address import parse

    sim = Simulator(SimConfig(seed=1, events=20_000))
    sim.build()
    owner: dict[str, str] = {}
    for place in sim.city.places:
        *full, short = place.variants()
        keys = {parse(text, place.grid).key() for text in full}
        assert len(keys) == 1, full
        key = keys.pop()
        assert owner.setdefault(key, place.id) == place.id, "two places share a key"
        room = parse(short, place.grid)
        assert room.road is None and room.grid == place.grid and not room.rest, short
        assert (room.building, room.unit, room.room) == (
            parse(full[0]).building,
            parse(full[0]).unit,
            parse(full[0]).room,
        )
        assert owner.setdefault(room.key(), place.id) == place.id, "two rooms share a key"


def test_chinese_numerals_and_building_forms() -> None:
    from projections.address import cn_number, parse

    numbers = [cn_number(s) for s in ("六", "十二", "一七四", "一百零五", "12")]
    assert numbers == [6, 12, 174, 105, 12]
    a = parse("阜通东大街六号院3栋2单元12层1201室")
    assert (a.road, a.number, a.building, a.unit, a.floor, a.room) == (
        "阜通东大街",
        6,
        3,
        2,
        12,
        1201,
    )
    b = parse("北京市朝阳区望京街道阜通东大街6号院3号楼2单元1201室")
    assert b.district == "朝阳区" and b.street == "望京街道" and b.key().endswith("|6|3|2|1201")


def test_an_address_written_smallest_first_with_commas_reads_as_the_same_place() -> None:
    from projections.address import parse

    grid = "33010600100103"
    plain = parse("西湖区翠苑街道古翠路80号院1号楼1单元301室", grid)
    for text in (
        "1号楼1单元301室，古翠路80号院，西湖区翠苑街道",
        "1号楼1单元301室, 古翠路80号院, 西湖区翠苑街道",
        "西湖区翠苑街道，古翠路80号院，1号楼1单元301室",
    ):
        a = parse(text, grid)
        assert a.key() == plain.key(), text
        assert (a.road, a.number, a.building, a.unit, a.room) == ("古翠路", 80, 1, 1, 301)
