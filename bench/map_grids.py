"""The map's grid list (``projections.reads.grids.grids``) called again and again on one
connection of a pool without custom plans, as the API's pool runs it: PostgreSQL plans a
prepared statement generically from its sixth run, so the sixth and later calls show what
a plan change costs; the case-list candidates beside it.

    .venv/bin/python -m bench.map_grids [--events 20000] [--calls 10]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from bench.common import fresh_db, header, stack
from bench.quality import apply_city
from hub.sim.city import SimConfig, simulate
from projections.coordination.rules import load_rules
from projections.db import create_pool
from projections.reads.cases import candidate_threads
from projections.reads.grids import grids


async def main(n: int, calls: int) -> None:
    print(header("the map's grid list, called again on one connection"))
    with stack() as s:
        dsn = await fresh_db(s, "bench_map_grids")
        await apply_city(s, dsn, simulate(SimConfig(seed=4, events=n)))
        pool = await create_pool(dsn, max_size=1)  # as the API's pool: generic plans allowed
        rules, at = load_rules(), datetime.now(UTC)
        got: list[dict[str, Any]] = []
        for k in range(calls):
            t = time.perf_counter()
            got = await grids(pool, rules, at)
            print(f"grids() call {k + 1}: {time.perf_counter() - t:.3f} s, {len(got)} grids")
        one = got[0]["grid"] if got else None
        shapes = (("grid", {"grid": one}, None), ("status", {"status": "open"}, None))
        for label, f, agency in (*shapes, ("agency", {}, "city"), ("all", {}, None)):
            ms = []
            for _ in range(calls):
                t = time.perf_counter()
                await candidate_threads(pool, f, agency, None, 50)
                ms.append(f"{(time.perf_counter() - t) * 1000:.1f}")
            print(f"case list candidates by {label}, {calls} calls (ms): {' '.join(ms)}")
        await pool.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--calls", type=int, default=10)
    a = ap.parse_args()
    asyncio.run(main(a.events, a.calls))
