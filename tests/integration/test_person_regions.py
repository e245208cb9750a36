"""Given the records of one person arriving in any order and batch cuts, when the resolver
decides, then they make the same persons; and when a person rejects a link, the region is
reshaped around the rejection and stays so.

Driven through ``Store.apply_batch`` on a real PostgreSQL, with the resolver's decisions fed
back as records of the resolution topic one batch later (as the workers read them back)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import orjson

from hub.config import Settings
from hub.sim import story
from projections.db import create_pool
from projections.decide import Decision
from projections.graph import canonical_node, components
from projections.intake import InboundRecord
from projections.store import Store
from tests.integration.conftest import new_database, unique
from tests.integration.test_person_flow import fresh_nid

RESOLUTION = "hub.internal.test.resolution"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _events(tag: str) -> list[dict]:
    nid = fresh_nid(tag)
    phone = f"139{random.Random(tag).randrange(10**8):08d}"  # one person, one phone
    person = {"name": "欧阳春晓", "phone": phone}
    return [
        story.event(
            "civil",
            "civil.resident.registered",
            f"{tag}-reg",
            T0,
            f"{tag}-R",
            {
                "resident_id": f"{tag}-R",
                "household_id": "H",
                "person": {"national_id": nid, **person},
                "address": {"text": "某路8号"},
            },
        ),
        story.event(
            "city",
            "city.case.reported",
            f"{tag}-c",
            T0 + timedelta(hours=1),
            f"{tag}-C",
            {
                "case_id": f"{tag}-C",
                "category": "noise",
                "description": "噪音",
                "channel": "hotline",
                "address": {"text": "某路8号"},
                "reporter": person,
            },
        ),
        story.event(
            "police",
            "police.incident.reported",
            f"{tag}-i",
            T0 + timedelta(hours=2),
            f"{tag}-I",
            {
                "incident_id": f"{tag}-I",
                "category": "noise",
                "summary": "噪音",
                "address": {"text": "某路8号"},
                "caller": {"name": "欧阳 春晓", "phone": phone},
            },
        ),
    ]


class _Log:
    """Agency records and the resolution topic, as offsets the store tracks."""

    def __init__(self) -> None:
        self.offsets: dict[tuple[str, int], int] = {}
        self.pending: list[Decision] = []

    def record(self, topic: str, partition: int, value: bytes) -> InboundRecord:
        o = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = o + 1
        return InboundRecord(topic, partition, o, None, value)

    def decisions(self) -> list[InboundRecord]:
        out = [self.record(RESOLUTION, 0, orjson.dumps(d.event())) for d in self.pending]
        self.pending.clear()
        return out

    async def sink(self, ds: Sequence[Decision]) -> None:
        self.pending.extend(ds)


async def _apply(store: Store, log: _Log, batches: list[list[dict]]) -> None:
    for batch in batches:
        records = [log.record(f"agency.{e['agency']}", 0, orjson.dumps(e)) for e in batch]
        await store.apply_batch(log.decisions() + records, decisions=log.sink)
    while log.pending:
        await store.apply_batch(log.decisions(), decisions=log.sink)


def _records(tag: str) -> list[str]:
    return [
        f"civil:resident:{tag}-R",
        f"city:case-party:{tag}-C/reporter",
        f"police:incident-party:{tag}-I/caller",
    ]


async def test_the_same_records_in_any_order_and_cuts_make_one_person(hub: Settings) -> None:
    url = await new_database(hub, unique("regions").replace("-", "_"))
    pool = await create_pool(url, max_size=2, custom_plans=True)
    try:
        store = Store(pool, "test", hub.agencies)
        rnd = random.Random(11)
        log = _Log()  # one log: offsets go on across the rounds, as the store expects
        for k in range(6):
            tag = unique(f"ord{k}")
            events = _events(tag)
            rnd.shuffle(events)
            cut = rnd.randint(1, len(events))
            await _apply(store, log, [events[:cut], events[cut:]])
            comps = await components(pool, _records(tag))
            people = {canonical_node(nodes) for nodes in comps.values()}
            assert len(people) == 1, (k, [e["type"] for e in events], cut, comps)
    finally:
        await pool.close()


async def test_a_rejected_link_reshapes_the_region_and_stays(hub: Settings) -> None:
    url = await new_database(hub, unique("reject").replace("-", "_"))
    pool = await create_pool(url, max_size=2, custom_plans=True)
    try:
        store = Store(pool, "test", hub.agencies)
        tag = unique("rej")
        log = _Log()
        await _apply(store, log, [_events(tag)])
        resident, city, police = _records(tag)
        assert (
            len({canonical_node(n) for n in (await components(pool, _records(tag))).values()}) == 1
        )
        # A person says the city's reporter is someone else.
        log.pending.append(
            Decision(
                "reject",
                resident,
                city,
                1.0,
                {"why": "checked"},
                "user:investigator-1",
                T0 + timedelta(days=1),
            )
        )
        await _apply(store, log, [])
        comps = await components(pool, _records(tag))
        assert city not in comps[resident]
        # the police caller matches both equally: it joins one of them, by the rule's ties
        assert (police in comps[resident]) != (police in comps[city])
        # Later records of the same person do not undo the person's word.
        phone = _events(tag)[0]["data"]["person"]["phone"]
        more = story.event(
            "city",
            "city.case.reported",
            f"{tag}-c2",
            T0 + timedelta(days=2),
            f"{tag}-C2",
            {
                "case_id": f"{tag}-C2",
                "category": "noise",
                "description": "噪音",
                "channel": "hotline",
                "address": {"text": "某路8号"},
                "reporter": {"name": "欧阳春晓", "phone": phone},
            },
        )
        await _apply(store, log, [[more]])
        later = f"city:case-party:{tag}-C2/reporter"
        comps = await components(pool, [*_records(tag), later])
        assert city not in comps[resident]
        assert (later in comps[resident]) != (later in comps[city])
    finally:
        await pool.close()
