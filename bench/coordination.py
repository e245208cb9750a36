"""Coordination notices on a simulated city (issue 13): the city's events applied in order of
simulated time, and after each step (``--step-hours``) ``--sweepers`` sweepers at once raise
what fell due by the step's end. Checked: none twice (a notice id raised again), none early
(raised at an instant before it fell due), none missed (at the end, every notice the final
clocks say fell due was raised). Also the cost of a sweep with nothing due, against how
many threads are closed (the partial index keeps it flat).

    .venv/bin/python -m bench.coordination --events 20000 --sweepers 2
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import orjson

from bench.common import header, stack
from hub.sim.city import Emitted, SimConfig, simulate
from projections.coordination.clock import Notice
from projections.coordination.due import pending, sweep, thread_states
from projections.coordination.rules import load_rules
from projections.db import create_pool, migrate
from projections.decide import Decision
from projections.intake import InboundRecord
from projections.matching import load_model
from projections.store import Store
from schemas.topics import resolution_topic

RESOLUTION = resolution_topic("hub.internal.streams")


async def main(n: int, step_hours: float, sweepers: int, seed: int) -> None:
    rules = load_rules()
    with stack() as s:
        dsn = s.require_database()
        await migrate(dsn)
        city = simulate(SimConfig(seed=seed, events=n))
        pool = await create_pool(dsn, max_size=2 + sweepers, custom_plans=True)
        store = Store(pool, "bench", s.agencies, load_model(), rules=rules)
        offsets: dict[tuple[str, int], int] = {}
        decided: list[Decision] = []
        raised: dict[str, tuple[Notice, datetime]] = {}
        twice: list[str] = []
        early: list[str] = []

        def records(events: Sequence[Emitted]) -> list[InboundRecord]:
            out = []
            for e in events:
                tp = (f"agency.{e.event['agency']}", hash(e.event["subject"]) % 4)
                o = offsets[tp] = offsets.get(tp, -1) + 1
                out.append(
                    InboundRecord(
                        tp[0], tp[1], o, e.event["subject"].encode(), orjson.dumps(e.event)
                    )
                )
            for d in decided:
                o = offsets[(RESOLUTION, 0)] = offsets.get((RESOLUTION, 0), -1) + 1
                out.append(InboundRecord(RESOLUTION, 0, o, d.a.encode(), orjson.dumps(d.event())))
            decided.clear()
            return out

        async def decide(ds: Sequence[Decision]) -> None:
            decided.extend(ds)

        def sink(at: datetime):  # type: ignore[no-untyped-def]
            async def send(ns: Sequence[Notice]) -> None:
                await asyncio.sleep(0)  # let the other sweepers in, as a broker's ack would
                for x in ns:
                    if x.id in raised:
                        twice.append(x.id)
                    if x.due > at:
                        early.append(x.id)
                    raised[x.id] = (x, at)

            return send

        step = timedelta(hours=step_hours)
        t, i, steps = city[0].time, 0, 0
        apply_s = sweep_s = 0.0
        while i < len(city) or decided:
            end = t + step
            j = i
            while j < len(city) and city[j].time < end:
                j += 1
            t0 = time.perf_counter()
            for k in range(i, max(j, i + 1), 500):
                await store.apply_batch(records(city[k : min(k + 500, j)]), decisions=decide)
            while decided:
                await store.apply_batch(records([]), decisions=decide)
            t1 = time.perf_counter()
            await asyncio.gather(*(sweep(pool, rules, sink(end), end) for _ in range(sweepers)))
            sweep_s += time.perf_counter() - t1
            apply_s += t1 - t0
            i, t, steps = j, end, steps + 1
        # none missed: what the final clocks say fell due by the last instant swept
        threads = [r[0] for r in await pool.fetch("SELECT thread_id FROM thread_due")]
        async with pool.acquire() as conn:
            states = await thread_states(conn, threads)
        claimed = {r[0] for r in await pool.fetch("SELECT notice_id FROM notice_claim")}
        for st in states.values():
            st.claimed = set()
        due_final = {x.id for th in threads for x in pending(th, states[th], rules) if x.due <= t}
        missed = due_final - set(raised)
        rows = await pool.fetchval("SELECT count(*) FROM thread_due")
        open_ = await pool.fetchval("SELECT count(*) FROM thread_due WHERE due_at IS NOT NULL")
        t0 = time.perf_counter()
        for _ in range(50):
            await sweep(pool, rules, sink(t), t)
        idle_ms = (time.perf_counter() - t0) / 50 * 1000
        await pool.close()
    print(header("coordination notices on a simulated city"))
    print(
        f"{len(city):,} events (seed {seed}), {steps:,} steps of {step_hours:g} h simulated,"
        f" {sweepers} sweepers at once; apply {apply_s:.1f} s, sweeps {sweep_s:.1f} s"
    )
    print(f"notices raised: {len(raised):,} ({dict(Counter(x.type for x, _ in raised.values()))})")
    print(f"claims: {len(claimed):,}; twice: {len(twice)}; early: {len(early)};")
    print(f"missed (due by the end per the final clocks, never raised): {len(missed)}")
    print(
        f"threads with a clock: {rows:,}, with a notice pending: {open_:,};"
        f" a sweep with nothing due: {idle_ms:.2f} ms"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--step-hours", type=float, default=6.0)
    ap.add_argument("--sweepers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    asyncio.run(main(a.events, a.step_hours, a.sweepers, a.seed))
