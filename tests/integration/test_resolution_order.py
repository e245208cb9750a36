"""Given the same events, when they arrive in different orders (any interleaving of the
partitions, each partition in its own order) and in different batch cuts, then the hub
makes the same persons and the same threads: on the hub's simulator and on a town from a
generator written apart from it (bench/town.py), both with 30 % noise.

Driven through ``Store.apply_batch`` on a real PostgreSQL, each order into a fresh database,
with the resolver's decisions fed back as records of the resolution topic one batch later
(as the workers read them back from the log); decided in the batch, or deferred to resolver
rounds of random size between batches (as the live workers do). ``bench/order.py`` runs
the same with 20 orders."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bench.order import apply_in_order, interleave, outcome
from bench.quality import case_record, person_records
from bench.town import generate
from hub.config import Settings
from hub.sim.city import SimConfig, simulate
from projections.db import create_pool
from projections.store import Store
from tests.integration.conftest import new_database, unique


def _events(generator: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    if generator == "town":
        return generate(60, 0.3, seed=3)
    return [(e.event, e.truth) for e in simulate(SimConfig(seed=4, events=1500, noise=0.3))]


@pytest.mark.parametrize("deferred", [False, True], ids=["in-batch", "deferred"])
@pytest.mark.parametrize("generator", ["sim", "town"])
async def test_any_order_and_any_batch_cuts_make_the_same_persons_and_threads(
    hub: Settings, generator: str, deferred: bool
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
            store = Store(pool, "order", hub.agencies, defer_resolution=deferred)
            await apply_in_order(store, interleave([e for e, _ in pairs], rnd), rnd)
            got = await outcome(pool, sorted(records_of), sorted(matters))
        finally:
            await pool.close()
        outcomes.add(got)
    assert len(outcomes) == 1, f"{len(outcomes)} different outcomes over 3 orders"


def test_the_orders_differ() -> None:
    """The check above is not vacuous: the orders it compares are different orders."""
    events = [e for e, _ in _events("town")]
    first = [r.value for r in interleave(events, random.Random(0))]
    assert first != [r.value for r in interleave(events, random.Random(1))]
    assert sorted(first) == sorted(r.value for r in interleave(events, random.Random(1)))
