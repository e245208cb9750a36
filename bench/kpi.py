"""The KPI report on a year of a simulated city (issue 13: "the KPI report for a year of a
1M-event city in < 2 s"). The simulated events are written straight into the event archive
(the report reads nothing else; projecting 1M events here would take ~15 minutes), then:

- the baseline: every received case's clock replayed from the archive
  (:func:`projections.reads.kpi.replayed`, the report before the summary);
- the first fold of the summary (once, as a worker does after the migration);
- the report (:func:`projections.reads.kpi.kpi`) per grid, street and agency, compared with
  the replay, equal or the run fails;
- the report while the last ``--live`` events are not folded yet (written after the fold, as
  they are between two of a worker's folds), and the fold that takes them in;
- a past month, whose cases partly have events after its end (replayed as the month knew
  them).

    .venv/bin/python -m bench.kpi --events 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from bench.common import fresh_db, header, stack
from hub.sim.city import Emitted, SimConfig, simulate
from projections.coordination.rules import load_rules
from projections.db import create_pool
from projections.reads.kpi import kpi, replayed
from projections.reads.kpi_fold import fold

SH = ZoneInfo("Asia/Shanghai")
_INSERT = (
    "INSERT INTO event_archive (source, event_id, type, agency, time, subject, topic, partition,"
    ' "offset", version, data, summary) SELECT s, e, t, a, ti, su, tp, p, o, v, d::jsonb, sm'
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[],"
    " $7::text[], $8::int[], $9::bigint[], $10::int[], $11::text[], $12::text[])"
    " AS x(s, e, t, a, ti, su, tp, p, o, v, d, sm)"
)


async def load(pool: asyncpg.Pool, city: Sequence[Emitted], first: int) -> None:
    """Archive rows as the projector writes them (the columns the report reads), in
    transactions of 10,000 events."""
    for k in range(0, len(city), 10_000):
        rows = [
            (
                e.event["source"],
                e.event["id"],
                e.event["type"],
                e.event["agency"],
                e.time,
                e.event["subject"],
                f"agency.{e.event['agency']}",
                0,
                first + k + i,
                1,
                orjson.dumps(e.event["data"]).decode(),
                e.event["type"],
            )
            for i, e in enumerate(city[k : k + 10_000])
        ]
        await pool.execute(_INSERT, *(list(c) for c in zip(*rows, strict=True)))


async def timed(f: Callable[[], Awaitable[Any]], runs: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = await f()
        best = min(best, time.perf_counter() - t0)
    return best, out


async def main(n: int, live: int, seed: int) -> None:
    rules = load_rules()
    year = (datetime(2026, 1, 1, tzinfo=SH), datetime(2027, 1, 1, tzinfo=SH))
    month = (datetime(2026, 6, 1, tzinfo=SH), datetime(2026, 7, 1, tzinfo=SH))
    with stack() as s:
        url = await fresh_db(s, "bench_kpi")
        t0 = time.perf_counter()
        city = simulate(SimConfig(seed=seed, events=n, days=365))
        sim_s = time.perf_counter() - t0
        pool = await create_pool(url, max_size=4)
        head, tail = city[: len(city) - live], city[len(city) - live :]
        t0 = time.perf_counter()
        await load(pool, head, 0)
        await pool.execute("ANALYZE event_archive")
        load_s = time.perf_counter() - t0
        cases = await pool.fetchval(
            "SELECT count(DISTINCT data->>'case_id') FROM event_archive WHERE agency = 'city'"
        )
        rows: list[tuple[str, str]] = []
        fails: list[str] = []

        def same(what: str, a: dict[str, Any], b: dict[str, Any]) -> None:
            if a != b:
                fails.append(what)

        base_s, ref = await timed(lambda: replayed(pool, rules, *year, "grid"))
        rows.append(("baseline: replay every case, a year per grid", f"{base_s:.2f} s"))
        fold_s, folded = await timed(lambda: fold(pool, rules, wait=True))
        rows.append((f"first fold of the summary ({folded:,} cases)", f"{fold_s:.2f} s"))
        await pool.execute("ANALYZE kpi_case")
        for by in ("grid", "street", "agency"):
            t, got = await timed(lambda by=by: kpi(pool, rules, *year, by), runs=3)
            if by == "grid":
                same("year/grid", got, ref)
                rows.append(("report, a year per grid", f"{t:.3f} s ({base_s / t:.0f}x)"))
            else:
                same(f"year/{by}", got, await replayed(pool, rules, *year, by))
                rows.append((f"report, a year per {by}", f"{t:.3f} s"))
        if tail:
            await load(pool, tail, len(head))
            t, got = await timed(lambda: kpi(pool, rules, *year, "grid"), runs=3)
            same("year/grid, not folded", got, await replayed(pool, rules, *year, "grid"))
            rows.append((f"report with the last {live:,} events not folded yet", f"{t:.3f} s"))
            t, folded = await timed(lambda: fold(pool, rules, wait=True))
            rows.append((f"the fold that takes them in ({folded:,} cases)", f"{t:.3f} s"))
        mb, mref = await timed(lambda: replayed(pool, rules, *month, "grid"))
        t, got = await timed(lambda: kpi(pool, rules, *month, "grid"), runs=3)
        same("month/grid", got, mref)
        rows.append(("a past month per grid: replay / report", f"{mb:.3f} s / {t:.3f} s"))
        total = ref["total"]
        await pool.close()
    print(header("KPI report on a simulated city"))
    print(
        f"{len(city):,} events (seed {seed}, 365 days; simulated in {sim_s:.0f} s, archived in"
        f" {load_s:.0f} s), {cases:,} city cases, {total['received']:,} received in 2026"
    )
    for k, v in rows:
        print(f"  {k:<58} {v}")
    print("every report equal to the replay" if not fails else f"DIFFERENT: {', '.join(fails)}")
    if fails:
        raise SystemExit(1)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--live", type=int, default=10_000, help="events written after the fold")
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    asyncio.run(main(a.events, a.live, a.seed))
