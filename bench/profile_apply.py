"""Where a batch's time goes: each step of ``Store.apply_batch`` and each SQL statement,
timed while a simulated city is applied (no Kafka, no faust: the projector's own cost).

    .venv/bin/python -m bench.profile_apply [--events 40000] [--batch 2000] [--warm 0]

``--warm N`` applies N events first (untimed), as a long-running worker would have, then
times the rest in batches of ``--batch``. A profiling aid: it wraps the store's methods and
asyncpg's calls with timers in this process only.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import asyncpg

import projections.store as store_module
from bench import quality
from bench.common import header, stack
from hub.sim.city import SimConfig, simulate
from hub.topics import ensure_topics
from projections.db import migrate

# the steps the batch transaction calls, by the names projections.store calls them
STEPS = (
    "apply_decisions",
    "archive",
    "read_links",
    "write_changes",
    "decide_persons_of_batch",
    "decide_referrals",
    "record_rejected",
    "refresh_due",
)
spent: dict[str, float] = defaultdict(float)
calls: dict[str, int] = defaultdict(int)


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return await fn(*a, **k)
        finally:
            spent[name] += time.perf_counter() - t
            calls[name] += 1

    return wrapper


def timed_sync(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spent[name] += time.perf_counter() - t
            calls[name] += 1

    return wrapper


def instrument() -> None:
    store_module.Store.apply_batch = timed(  # type: ignore[method-assign]
        "apply_batch", store_module.Store.apply_batch
    )
    for m in STEPS:
        setattr(store_module, m, timed(m, getattr(store_module, m)))
    store_module.project = timed_sync("project", store_module.project)
    store_module.split = timed_sync("split", store_module.split)
    for meth in ("execute", "fetch", "fetchval", "copy_records_to_table", "executemany"):
        orig = getattr(asyncpg.Connection, meth)

        def make(orig: Callable[..., Any], meth: str) -> Callable[..., Any]:
            async def wrapper(self: asyncpg.Connection, q: Any, *a: Any, **k: Any) -> Any:
                t = time.perf_counter()
                try:
                    return await orig(self, q, *a, **k)
                finally:
                    spent["sql " + meth + ": " + " ".join(str(q).split())[:70]] += (
                        time.perf_counter() - t
                    )

            return wrapper

        setattr(asyncpg.Connection, meth, make(orig, meth))


async def main(n: int, batch: int, warm: int, coordination: bool = True) -> None:
    with stack() as s:
        dsn = s.require_database()
        await migrate(dsn)
        await ensure_topics(s)
        city = simulate(SimConfig(seed=2, events=n + warm))
        if warm:
            await quality.apply_city(s, dsn, city[:warm], consumer="warm")
        instrument()
        t0 = time.perf_counter()
        await quality.apply_city(s, dsn, city[warm:], batch=batch, coordination=coordination)
        total = time.perf_counter() - t0
        batches = calls["apply_batch"]
        print(header("apply_batch profile"))
        timed_events = len(city) - warm
        print(
            f"{timed_events:,} events after {warm:,} warm, batches of {batch}: "
            f"{total:.1f} s = {timed_events / total:,.0f} events/s, "
            f"{total / batches * 1000:.1f} ms a batch"
        )
        for k, v in sorted(spent.items(), key=lambda x: -x[1])[:30]:
            print(f"{v:7.2f} s {v / total:6.1%} {v / batches * 1000:7.2f} ms/batch  {k}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--warm", type=int, default=0)
    ap.add_argument(
        "--no-coordination", action="store_true", help="without the due instants of notices"
    )
    a = ap.parse_args()
    asyncio.run(main(a.events, a.batch, a.warm, not a.no_coordination))
