"""Given the same events, when they arrive in different orders (any interleaving of the
partitions, each partition in its own order) and in different batch cuts, then the hub
makes the same persons and the same threads: on the hub's simulator and on a town from a
generator written apart from it (bench/town.py), both with 30 % noise.

Driven through ``Store.apply_batch`` on a real PostgreSQL, each order into a fresh database,
with the resolver's decisions fed back as records of the resolution topic one batch later
(as the workers read them back from the log)."""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from bench.quality import case_record, person_records
from bench.town import generate
from hub.config import Settings
from hub.sim.city import SimConfig, simulate
from projections.db import create_pool
from projections.decide import Decision
from projections.graph import canonical_node, components
from projections.intake import InboundRecord
from projections.store import Store
from tests.integration.conftest import new_database, unique

RESOLUTION = "hub.internal.order.resolution"
Partition = frozenset[frozenset[str]]


def _events(generator: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    if generator == "town":
        return generate(60, 0.3, seed=3)
    return [(e.event, e.truth) for e in simulate(SimConfig(seed=4, events=1500, noise=0.3))]


def _order(events: list[dict[str, Any]], rnd: random.Random) -> list[InboundRecord]:
    """One interleaving of the partitions (keyed by subject over 4, as Kafka would), each
    partition's own order kept."""
    queues: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for e in events:
        tp = (f"agency.{e['agency']}", zlib.crc32(e["subject"].encode()) % 4)
        queues.setdefault(tp, []).append(e)
    offsets = dict.fromkeys(queues, 0)
    out: list[InboundRecord] = []
    while any(queues.values()):
        tp = rnd.choice(sorted(t for t, q in queues.items() if q))
        for _ in range(rnd.randint(1, 40)):
            if not queues[tp]:
                break
            e = queues[tp].pop(0)
            out.append(InboundRecord(tp[0], tp[1], offsets[tp], None, orjson.dumps(e)))
            offsets[tp] += 1
    return out


async def _apply(store: Store, records: list[InboundRecord], rnd: random.Random) -> None:
    pending: list[Decision] = []
    decided = 0

    async def sink(ds: Sequence[Decision]) -> None:
        pending.extend(ds)

    i = 0
    while i < len(records) or pending:
        feedback = [
            InboundRecord(RESOLUTION, 0, decided + k, None, orjson.dumps(d.event()))
            for k, d in enumerate(pending)
        ]
        decided += len(pending)
        pending.clear()
        n = rnd.choice((1, 7, 50, 300, 2000))
        await store.apply_batch(feedback + records[i : i + n], decisions=sink)
        i += n


def _partition(pred: dict[str, str]) -> Partition:
    groups: dict[str, set[str]] = {}
    for item, group in pred.items():
        groups.setdefault(group, set()).add(item)
    return frozenset(frozenset(g) for g in groups.values())


@pytest.mark.parametrize("generator", ["sim", "town"])
async def test_any_order_and_any_batch_cuts_make_the_same_persons_and_threads(
    hub: Settings, generator: str
) -> None:
    pairs = _events(generator)
    records_of = set()
    matters = set()
    for e, t in pairs:
        records_of |= set(person_records(e, t))
        if (c := case_record(e)) and t.get("matter"):
            matters.add(c)
    outcomes = set()
    for k in range(3):
        url = await new_database(hub, unique(f"order_{generator}_{k}").replace("-", "_"))
        pool = await create_pool(url, max_size=2, custom_plans=True)
        try:
            rnd = random.Random(k)
            await _apply(
                Store(pool, "order", hub.agencies), _order([e for e, _ in pairs], rnd), rnd
            )
            persons = await components(pool, sorted(records_of))
            threads = await components(pool, sorted(matters), "case_edge")
        finally:
            await pool.close()
        outcomes.add(
            (
                _partition({r: canonical_node(n) for r, n in persons.items()}),
                _partition({c: min(n) for c, n in threads.items()}),
            )
        )
    assert len(outcomes) == 1, f"{len(outcomes)} different outcomes over 3 orders"


def test_the_orders_differ() -> None:
    """The check above is not vacuous: the orders it compares are different orders."""
    events = [e for e, _ in _events("town")]
    first = [r.value for r in _order(events, random.Random(0))]
    assert first != [r.value for r in _order(events, random.Random(1))]
    assert sorted(first) == sorted(r.value for r in _order(events, random.Random(1)))
