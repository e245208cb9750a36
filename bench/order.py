"""Order-free resolution: the same events in N different orders (any interleaving of the
partitions, each partition in its own order) and batch cuts, each into a fresh database,
and how many different outcomes (persons, threads) they make; one is the aim.

    .venv/bin/python -m bench.order --orders 20 --generator sim --events 4000 --noise 0.3

Decisions are fed back as records of the resolution topic one batch later (as the workers
read them back from the log). ``--deferred`` (the live workers' way): batches queue the
records they touched and the resolver decides them in rounds of random size between
batches, as it does beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import zlib
from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson

from bench.common import fresh_db, header, stack
from bench.quality import case_record, pairwise, person_records
from projections.db import create_pool
from projections.decide import Decision
from projections.graph import canonical_node, components
from projections.intake import InboundRecord
from projections.store import Store

RESOLUTION = "hub.internal.order.resolution"
Partition = frozenset[frozenset[str]]


def interleave(events: list[dict[str, Any]], rnd: random.Random) -> list[InboundRecord]:
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


async def apply_in_order(store: Store, records: list[InboundRecord], rnd: random.Random) -> None:
    """Batches of random size; with a deferring store, resolver rounds of random size
    between them, and the queue drained at the end."""
    pending: list[Decision] = []
    decided = 0

    async def sink(ds: Sequence[Decision]) -> None:
        pending.extend(ds)

    async def queued() -> bool:
        return bool(await store.pool.fetchval("SELECT EXISTS (SELECT 1 FROM pending_resolution)"))

    i = 0
    while i < len(records) or pending or (store.defer_resolution and await queued()):
        feedback = [
            InboundRecord(RESOLUTION, 0, decided + k, None, orjson.dumps(d.event()))
            for k, d in enumerate(pending)
        ]
        decided += len(pending)
        pending.clear()
        n = rnd.choice((1, 7, 50, 300, 2000))
        await store.apply_batch(feedback + records[i : i + n], decisions=sink)
        i += n
        if store.defer_resolution:
            rounds = rnd.randint(0, 2) if i < len(records) else 1
            for _ in range(rounds):
                await store.resolve_pending(sink, limit=rnd.choice((5, 50, 500)))


def partition(pred: dict[str, str]) -> Partition:
    groups: dict[str, set[str]] = {}
    for item, group in pred.items():
        groups.setdefault(group, set()).add(item)
    return frozenset(frozenset(g) for g in groups.values())


async def outcome(
    pool: asyncpg.Pool, records: list[str], matters: list[str]
) -> tuple[Partition, Partition]:
    persons = await components(pool, records)
    threads = await components(pool, matters, "case_edge")
    return (
        partition({r: canonical_node(n) for r, n in persons.items()}),
        partition({c: min(n) for c, n in threads.items()}),
    )


def city(generator: str, n: int, noise: float, seed: int) -> list[tuple[dict, dict]]:
    if generator == "town":
        from bench.town import generate

        return generate(n, noise, seed)
    from hub.sim.city import SimConfig, simulate

    return [(e.event, e.truth) for e in simulate(SimConfig(seed=seed, events=n, noise=noise))]


async def main(
    orders: int, generator: str, n: int, noise: float, seed: int, deferred: bool, settle: int = 0
) -> None:
    pairs = city(generator, n, noise, seed)
    truth: dict[str, str] = {}
    matters: set[str] = set()
    for e, t in pairs:
        truth.update(person_records(e, t))
        if (c := case_record(e)) and t.get("matter"):
            matters.add(c)
    with stack() as s:
        print(header("order"))
        print(
            f"{generator}, {len(pairs):,} events, {noise:.0%} noise, {orders} orders and batch"
            f" cuts, resolution {'deferred (live workers)' if deferred else 'in the batch'}"
        )
        outcomes: dict[tuple[Partition, Partition], int] = {}
        for k in range(orders):
            dsn = await fresh_db(s, f"order_{k}")
            pool = await create_pool(dsn, max_size=2, custom_plans=True)
            try:
                rnd = random.Random(k)
                store = Store(pool, "order", s.agencies, defer_resolution=deferred)
                t0 = time.perf_counter()
                await apply_in_order(store, interleave([e for e, _ in pairs], rnd), rnd)
                if settle:  # every record decided once more, all together
                    from datetime import UTC, datetime

                    from projections.decisions import decide_and_apply

                    for _ in range(settle):
                        rows = await pool.fetch("SELECT record FROM mention")
                        allrecs = sorted(r[0] for r in rows)
                        n = 0
                        for j in range(0, len(allrecs), 50):  # in chunks, as an idle sweep would
                            async with pool.acquire() as conn, conn.transaction():
                                made = await decide_and_apply(
                                    conn, set(allrecs[j : j + 50]), datetime.now(UTC), store.model
                                )
                                n += len([d for d in made if d.action != "candidate"])
                        print("   settle:", n, "decisions")
                got = await outcome(pool, sorted(truth), sorted(matters))
            finally:
                await pool.close()
            persons = {r: min(g) for g in got[0] for r in g}
            f1 = pairwise(persons, truth)[2]
            outcomes[got] = outcomes.get(got, 0) + 1
            print(
                f"order {k + 1:>2}: person F1 {f1:.4f}, {time.perf_counter() - t0:.1f} s,"
                f" distinct so far: persons {len({p for p, _ in outcomes})},"
                f" threads {len({t for _, t in outcomes})}",
                flush=True,
            )
            if len(outcomes) > 1 and k == orders - 1:
                first = next(iter(outcomes))
                for other in list(outcomes)[1:]:
                    for g in sorted(first[0] ^ other[0], key=sorted)[:6]:
                        print("   differs:", sorted(g))
        print(
            f"{orders} orders: {len(outcomes)} distinct outcome(s); persons"
            f" {len({p for p, _ in outcomes})}, threads {len({t for _, t in outcomes})}"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20)
    ap.add_argument("--generator", choices=("sim", "town"), default="sim")
    ap.add_argument("--events", type=int, default=4000, help="events, or people of the town")
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--deferred", action="store_true", help="resolve as the live workers do")
    ap.add_argument(
        "--settle", type=int, default=0, help="diagnosis: sweep every record again N times"
    )
    a = ap.parse_args()
    asyncio.run(main(a.orders, a.generator, a.events, a.noise, a.seed, a.deferred, a.settle))
