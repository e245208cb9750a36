"""Projection speed, each path next to its baseline measured in the same run:

- live path: a stream worker from the agency topics into a queryable read model, vs a
  faust agent that does nothing (same batching), both from first event to last;
- rebuild path: `civic-hub rebuild`'s loop, vs a bare aiokafka getmany + orjson + COPY loop;
- both vs a naive faust agent that upserts one event per round trip (on fewer events);
- freshness: publish → applied (what a read then sees), at a steady rate, p50/p99.

    .venv/bin/python -m bench.throughput [--events 100000] [--naive-events 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import time

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.common import child_env, fresh_db, header, spawn, stack
from hub.config import Settings
from hub.rebuild import Rebuilder
from hub.sim.city import SimConfig, simulate
from hub.topics import ensure_topics
from projections.db import migrate
from schemas.topics import agency_topic


async def publish(s: Settings, events: list[dict]) -> dict[tuple[str, int], int]:
    p = AIOKafkaProducer(
        bootstrap_servers=s.require_kafka(), acks="all", linger_ms=5, max_batch_size=512 * 1024
    )
    await p.start()
    ends: dict[tuple[str, int], int] = {}
    try:
        futs = [
            await p.send(agency_topic(e["agency"]), orjson.dumps(e), key=e["subject"].encode())
            for e in events
        ]
        for f in futs:
            md = await f
            ends[(md.topic, md.partition)] = max(
                ends.get((md.topic, md.partition), 0), md.offset + 1
            )
    finally:
        await p.stop()
    return ends


async def faust_baseline(s: Settings, mode: str, n: int, db: str) -> float:
    out = s.data_dir / f"{mode}.txt"
    proc = spawn(
        ["-m", "bench.null_agent", "worker", "--without-web", "-l", "warn"],
        child_env(s, BENCH_MODE=mode, BENCH_N=str(n), BENCH_OUT=str(out), HUB_DATABASE_URL=db),
        s.data_dir / f"{mode}.log",
    )
    await asyncio.to_thread(proc.wait)
    events, seconds = out.read_text().split()
    return int(events) / float(seconds)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB (from /proc)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# The workers' resident memory as the run goes: (share of the events applied, MB per worker).
MEMORY: list[tuple[float, list[float]]] = []


async def live_path(
    s: Settings, ends: dict[tuple[str, int], int], group: str, workers: int = 1
) -> float:
    db = await fresh_db(s, group.replace(".", "_").replace("-", "_"))
    procs = [
        spawn(
            ["-m", "hub.worker", "worker", "--without-web", "-l", "warn"],
            child_env(s, HUB_DATABASE_URL=db, HUB_STREAMS_APP_ID=group),
            s.data_dir / f"{group}-{i}.log",
        )
        for i in range(workers)
    ]
    conn = await asyncpg.connect(db)
    first_t, first_n = 0.0, 0
    total = sum(ends.values())
    MEMORY.clear()
    sampled = 0.0
    try:
        while True:
            rows = await conn.fetch(
                "SELECT topic, partition, next_offset FROM stream_position WHERE consumer = $1",
                group,
            )
            have = {(r[0], r[1]): r[2] for r in rows}
            done = sum(min(have.get(tp, 0), e) for tp, e in ends.items())
            if done and not first_t:
                first_t, first_n = time.perf_counter(), done
            if time.perf_counter() - sampled >= 1.0:
                sampled = time.perf_counter()
                MEMORY.append((done / total, [rss_mb(p.pid) for p in procs]))
            if all(have.get(tp, 0) >= e for tp, e in ends.items()):
                return (done - first_n) / (time.perf_counter() - first_t)
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"worker exited {proc.returncode}")
            await asyncio.sleep(0.02)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        await conn.close()


async def rebuild_path(s: Settings, db: str, ends: dict[tuple[str, int], int]) -> float:
    rb = Rebuilder(dataclasses.replace(s, database_url=db), "rebuild_bench")
    await rb.start()
    try:
        t0 = time.perf_counter()
        await rb.run_until(ends)
        await rb.build_indexes()  # part of the rebuild: timed
        return rb.events / (time.perf_counter() - t0)
    finally:
        await rb.close()


async def bare_copy(s: Settings, db: str, ends: dict[tuple[str, int], int]) -> float:
    conn = await asyncpg.connect(db)
    await conn.execute("CREATE TABLE bare (source text, id text, type text, time text, data text)")
    c = AIOKafkaConsumer(
        bootstrap_servers=s.require_kafka(),
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=32 * 1024 * 1024,
    )
    await c.start()
    try:
        tps = [TopicPartition(t, p) for (t, p) in ends]
        c.assign(tps)
        for tp in tps:
            c.seek(tp, 0)
        todo, n = dict(ends), 0
        t0 = time.perf_counter()
        while todo:
            batch = await c.getmany(timeout_ms=1000, max_records=5000)
            rows = []
            for tp, msgs in batch.items():
                for m in msgs:
                    d = orjson.loads(m.value)
                    rows.append(
                        (
                            d["source"],
                            d["id"],
                            d["type"],
                            d["time"],
                            orjson.dumps(d["data"]).decode(),
                        )
                    )
                if msgs and msgs[-1].offset + 1 >= todo.get((tp.topic, tp.partition), 0):
                    todo.pop((tp.topic, tp.partition), None)
            async with conn.transaction():
                await conn.copy_records_to_table("bare", records=rows)
            n += len(rows)
        return n / (time.perf_counter() - t0)
    finally:
        await c.stop()
        await conn.close()


async def freshness(
    s: Settings,
    runs: list[list[dict]],
    rate: float,
    group: str,
    backlog: dict[tuple[str, int], int],
) -> list[list[float]]:
    """Publish at ``rate`` with a live worker running; publish -> applied latency per event,
    for each of ``runs`` in turn (the same worker: consecutive runs, each drained before the
    next starts)."""
    db = await fresh_db(s, group.replace(".", "_").replace("-", "_"))
    proc = spawn(
        ["-m", "hub.worker", "worker", "--without-web", "-l", "warn"],
        child_env(s, HUB_DATABASE_URL=db, HUB_STREAMS_APP_ID=group),
        s.data_dir / f"{group}.log",
    )
    conn = await asyncpg.connect(db)
    p = AIOKafkaProducer(bootstrap_servers=s.require_kafka(), acks="all", linger_ms=1)
    await p.start()
    out: list[list[float]] = []
    try:
        # Let the worker join its group and work off what the topics already hold (not part
        # of freshness): wait until it has applied the backlog.
        while True:
            rows = await conn.fetch("SELECT topic, partition, next_offset FROM stream_position")
            have = {(r[0], r[1]): r[2] for r in rows}
            if all(have.get(tp, 0) >= e for tp, e in backlog.items()) and not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pending_resolution)"
            ):
                break  # the backlog applied and its persons decided
            await asyncio.sleep(0.1)
        for events in runs:
            out.append(await _fresh_run(conn, p, events, rate))
        return out
    finally:
        await p.stop()
        proc.terminate()
        proc.wait(timeout=30)
        await conn.close()


async def _fresh_run(
    conn: asyncpg.Connection, p: AIOKafkaProducer, events: list[dict], rate: float
) -> list[float]:
    sent: dict[tuple[str, int, int], float] = {}
    latencies: list[float] = []

    async def producer_task() -> None:
        t0 = time.perf_counter()
        for i, e in enumerate(events):
            due = t0 + i / rate
            if due > time.perf_counter():
                await asyncio.sleep(due - time.perf_counter())
            fut = await p.send(
                agency_topic(e["agency"]), orjson.dumps(e), key=e["subject"].encode()
            )
            at = time.perf_counter()
            fut.add_done_callback(
                lambda f, at=at: sent.__setitem__(
                    (f.result().topic, f.result().partition, f.result().offset), at
                )
            )

    task = asyncio.create_task(producer_task())
    pending: dict[tuple[str, int], list[tuple[int, float]]] = {}
    seen: set[tuple[str, int, int]] = set()
    while True:
        for key, at in list(sent.items()):
            if key not in seen:
                seen.add(key)
                pending.setdefault(key[:2], []).append((key[2], at))
        rows = await conn.fetch("SELECT topic, partition, next_offset FROM stream_position")
        now = time.perf_counter()
        for r in rows:
            lst = pending.get((r[0], r[1]), [])
            keep = []
            for off, at in lst:
                if off < r[2]:
                    latencies.append(now - at)
                else:
                    keep.append((off, at))
            pending[(r[0], r[1])] = keep
        if task.done() and not any(pending.values()) and len(seen) >= len(events):
            break
        await asyncio.sleep(0.005)
    await task
    return latencies


def memory_profile() -> str:
    """The worker's resident memory at each tenth of the run, and its peak."""
    if not MEMORY:
        return "worker memory: no samples"
    marks = []
    for tenth in range(1, 11):
        at = next((m for share, m in MEMORY if share >= tenth / 10), MEMORY[-1][1])
        marks.append(f"{max(at):.0f}")
    peak = max(max(m) for _, m in MEMORY)
    return f"worker RSS MB at each tenth of the events: {' '.join(marks)}; peak {peak:.0f} MB"


async def main(
    n: int, naive_n: int, fresh_seconds: int, only_freshness: bool, only_live: bool, runs: int
) -> None:
    with stack() as s:
        await migrate(s.require_database())
        await ensure_topics(s)
        emitted = simulate(SimConfig(seed=2, events=n))
        events = [e.event for e in emitted][:n]
        ends = await publish(s, events)
        total = sum(ends.values())
        print(header("throughput"))
        print(f"{total:,} simulated events in 4 agency topics x 4 partitions", flush=True)
        if not only_freshness:
            null = await faust_baseline(s, "null", total, s.require_database())
            print(f"do-nothing faust agent (take_events 2000)   {null:9,.0f} events/s", flush=True)
            live = await live_path(s, ends, "hub.internal.bench-live")
            print(
                f"live path, 1 worker                         {live:9,.0f} events/s"
                f"   ratio {live / null:.2f}x (aim >= 0.7x)",
                flush=True,
            )
            print(memory_profile(), flush=True)
        if not only_freshness and not only_live:
            two = await live_path(s, ends, "hub.internal.bench-live2", workers=2)
            print(
                f"live path, 2 workers (one group)            {two:9,.0f} events/s"
                f"   {two / live:.2f}x one worker (aim: near 2x)",
                flush=True,
            )
            db = s.require_database().rsplit("/", 1)[0] + "/hub_internal_bench_live"
            bare = await bare_copy(s, db, ends)
            print(f"bare getmany + orjson + COPY                {bare:9,.0f} events/s", flush=True)
            rebuild = await rebuild_path(s, db, ends)
            print(
                f"rebuild path                                {rebuild:9,.0f} events/s"
                f"   ratio {rebuild / bare:.2f}x (aim >= 0.5x)",
                flush=True,
            )
            naive_db = await fresh_db(s, "bench_naive")
            naive = await faust_baseline(s, "naive", naive_n, naive_db)
            print(
                f"naive faust agent, 1 upsert per round trip  {naive:9,.0f} events/s"
                f"   live/naive {live / naive:.1f}x, rebuild/naive {rebuild / naive:.1f}x "
                "(aim >= 10x)",
                flush=True,
            )
        p99s = []
        if fresh_seconds and runs:
            # consecutive runs on one live worker that first works off the backlog; each run
            # publishes new events (another seed each run) at 2,000/s
            batches = [
                [e.event for e in simulate(SimConfig(seed=3 + r, events=2000 * fresh_seconds))][
                    : 2000 * fresh_seconds
                ]
                for r in range(runs)
            ]
            results = await freshness(s, batches, 2000.0, "hub.internal.bench-fresh", ends)
            for run, lat in enumerate(results):
                lat = sorted(lat)
                p50 = statistics.median(lat) * 1000
                p99 = lat[int(len(lat) * 0.99) - 1] * 1000
                p99s.append(p99)
                print(
                    f"freshness at 2,000 events/s for {fresh_seconds}s (run {run + 1} of {runs}):"
                    f" publish -> applied p50 {p50:.0f} ms, p99 {p99:.0f} ms over {len(lat):,}"
                    " events (aim p99 < 500)",
                    flush=True,
                )
        if runs > 1:
            print(
                f"freshness p99 < 500 ms in {sum(p < 500 for p in p99s)} of {runs} runs;"
                f" p99s {' '.join(f'{p:.0f}' for p in p99s)} ms",
                flush=True,
            )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--naive-events", type=int, default=10_000)
    ap.add_argument("--freshness-seconds", type=int, default=20)
    ap.add_argument(
        "--only-freshness",
        action="store_true",
        help="skip the throughput runs (the events are still the backlog)",
    )
    ap.add_argument(
        "--only-live",
        action="store_true",
        help="the do-nothing agent and one live worker only (with its memory), then freshness",
    )
    ap.add_argument("--freshness-runs", type=int, default=1, help="consecutive freshness runs")
    a = ap.parse_args()
    sys.exit(
        asyncio.run(
            main(
                a.events,
                a.naive_events,
                a.freshness_seconds,
                a.only_freshness,
                a.only_live,
                a.freshness_runs,
            )
        )
    )
