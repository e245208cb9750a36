"""Coordination notices from real workers against the simulator's ground truth (issue 13:
"100 % right on a 1M-event city with two workers and five SIGKILLs").

A simulated city is published to the agency topics in order of its simulated time (keyed by
subject, as agencies do), then one marker event per inbound partition one microsecond after
the city's last event. ``--workers`` real stream workers (``python -m hub.worker``, the
production code paths: the batches, the resolver beside them, the sweeps) project it with
``HUB_SWEEP_CLOCK=watermark``: their sweeps take as now the event-time watermark kept in
PostgreSQL (projections/coordination/watermark.py) instead of the wall clock. While they
work (from their first batch, or with ``--kills-from claim`` from their first notice), one
of them is SIGKILLed and restarted every ``--kill-every`` seconds, ``--kills`` times.
``--rate``: events published per second (0: all at once). When the watermark has passed the
city's end and nothing due before it is left, the notices claimed are compared with
:func:`hub.sim.notices.notice_truth` of the city up to its last event: each truth notice
raised exactly once (by id and by thread and slot), none missed, none extra, none early
(claimed at a watermark before its due instant: the claim row's ``swept_at``); ids sent
again after a kill (the same id twice on ``hub.coordination``, the archive keeps one) are
counted apart. Independently of the workers, the watermark is sampled with the stored
positions twice a second and checked against what was published: every event before it
must have been applied.

    .venv/bin/python -m bench.coordination_workers --events 20000 --workers 2 --kills 5
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import random
import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import child_env, fresh_db, header, spawn, stack
from bench.quality import case_record
from hub.sim.city import SimConfig, simulate
from hub.sim.notices import notice_truth, watermark_marker
from hub.topics import ensure_topics
from projections.coordination.rules import load_rules
from projections.intake import InboundRecord, check
from schemas.topics import COORDINATION_TOPIC, agency_topic

ROOT = Path(__file__).resolve().parents[1]
APP = "hub.internal.benchtruth"


async def run(
    n: int,
    workers: int,
    kills: int,
    every: float,
    seed: int,
    rate: float,
    dump: str,
    from_claims: bool = False,
) -> None:
    rules = load_rules()
    rng = random.Random(7)
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    city = simulate(SimConfig(seed=seed, events=n))
    timings["simulate"] = time.monotonic() - t0
    end = city[-1].time
    stop_at = end + timedelta(microseconds=1)
    with stack() as s:
        await ensure_topics(s)
        db = await fresh_db(s, "bench_notice_truth")
        env = child_env(
            s,
            HUB_DATABASE_URL=db,
            HUB_STREAMS_APP_ID=APP,
            HUB_SWEEP_CLOCK="watermark",
            PYTHONPATH=str(ROOT),
        )

        def start(i: int) -> Any:
            return spawn(
                ["-m", "hub.worker", "worker", "--without-web", "-l", "warn"],
                env,
                s.data_dir / f"worker{i}.log",
            )

        procs = [start(i) for i in range(workers)]
        producer = AIOKafkaProducer(
            bootstrap_servers=s.require_kafka(), linger_ms=20, max_batch_size=512 * 1024
        )
        await producer.start()
        t0 = time.monotonic()
        # per partition, the offset and time of each record as acknowledged (for the
        # watermark check): in order of offset, so of time too (published in order of time)
        offs: dict[tuple[str, int], list[int]] = {}
        ts: dict[tuple[str, int], list[datetime]] = {}

        async def acked(chunk: list[tuple[datetime, Any]]) -> None:
            for at, f in chunk:
                md = await f
                offs.setdefault((md.topic, md.partition), []).append(md.offset)
                ts.setdefault((md.topic, md.partition), []).append(at)
            chunk.clear()

        async def publish() -> None:
            chunk: list[tuple[datetime, Any]] = []
            for i, e in enumerate(city):
                if i % 200 == 0:
                    await acked(chunk)
                    wait = t0 + i / rate - time.monotonic() if rate else 0
                    if wait > 0:
                        await asyncio.sleep(wait)
                ev = e.event
                chunk.append(
                    (
                        e.time,
                        await producer.send(
                            agency_topic(ev["agency"]), orjson.dumps(ev), key=ev["subject"].encode()
                        ),
                    )
                )
            for agency in s.agencies:
                for p in range(s.partitions):
                    m = watermark_marker(agency, p, stop_at)
                    rec = InboundRecord(agency_topic(agency), p, 0, None, orjson.dumps(m))
                    assert not hasattr(check(rec, s.agencies), "reason"), m  # a valid event
                    chunk.append(
                        (
                            stop_at,
                            await producer.send(
                                agency_topic(agency),
                                orjson.dumps(m),
                                key=m["subject"].encode(),
                                partition=p,
                            ),
                        )
                    )
            await acked(chunk)
            await producer.stop()
            timings["publish"] = time.monotonic() - t0

        publisher = asyncio.create_task(publish())
        conn = await asyncpg.connect(db)
        killed = 0
        kill_log: list[str] = []
        ahead: list[str] = []  # watermark samples ahead of what was applied
        samples = 0
        seen: set[datetime | None] = set()
        shown = time.monotonic()
        kills_from = None
        done_at = None
        while time.monotonic() - t0 < 7200:
            async with conn.transaction(isolation="repeatable_read"):
                w = await conn.fetchval("SELECT at FROM sweep_watermark WHERE consumer = $1", APP)
                pos = {
                    (r[0], r[1]): r[2]
                    for r in await conn.fetch(
                        "SELECT topic, partition, next_offset FROM stream_position"
                        " WHERE consumer = $1",
                        APP,
                    )
                }
                claimed = await conn.fetchval("SELECT count(*) FROM notice_claim")
                left = (
                    await conn.fetchval(
                        "SELECT count(*) FROM thread_due WHERE due_at IS NOT NULL AND due_at < $1",
                        w,
                    )
                    if w is not None
                    else None
                )
            if w is not None:
                samples += 1
                for tp, times in list(ts.items()):
                    # every record of the partition before the watermark must be applied
                    k = bisect.bisect_left(times, w)
                    if k and offs[tp][k - 1] >= pos.get(tp, 0):
                        ahead.append(f"{w} {tp}: offset {offs[tp][k - 1]} not applied")
            seen.add(w)
            if time.monotonic() - shown > 30:
                shown = time.monotonic()
                print(
                    f"{shown - t0:.0f} s: applied {sum(pos.values()):,} records,"
                    f" watermark {w}, {claimed:,} claimed",
                    flush=True,
                )
            # kills begin once the workers apply (or, --kills-from claim, once they raise)
            if (claimed if from_claims else sum(pos.values())) and kills_from is None:
                kills_from = time.monotonic() - t0
            if w is not None and w >= stop_at and left == 0:
                done_at = time.monotonic() - t0
                break
            if kills_from is not None and killed < kills:
                if time.monotonic() - t0 > kills_from + every * (killed + 1):
                    i = rng.randrange(workers)
                    procs[i].send_signal(signal.SIGKILL)
                    procs[i].wait()
                    procs[i] = start(i)
                    killed += 1
                    kill_log.append(
                        f"SIGKILL worker {i} at {time.monotonic() - t0:.0f} s"
                        f" ({claimed:,} claimed, watermark {w})"
                    )
                    print(kill_log[-1], flush=True)
            for i, p in enumerate(procs):
                if p.poll() is not None:
                    raise SystemExit(f"worker {i} exited {p.returncode}; see {s.data_dir}")
            await asyncio.sleep(0.5)
        if done_at is None:
            raise SystemExit(f"the watermark did not reach the end; see {s.data_dir}")
        await publisher
        timings["project and sweep"] = done_at
        claims = await conn.fetch(
            "SELECT c.notice_id, c.thread_id, c.type, c.due_at, c.slot, c.swept_at,"
            " coalesce(t.thread_id, c.thread_id) AS now_thread FROM notice_claim c"
            " LEFT JOIN case_thread t ON t.case_id = c.thread_id"
        )
        threads = await conn.fetch("SELECT case_id, thread_id FROM case_thread")
        archived = 0
        for _ in range(240):  # the workers archive the notices they read back
            archived = await conn.fetchval(
                "SELECT count(*) FROM event_archive WHERE agency = 'hub'"
            )
            if archived >= len(claims):
                break
            await asyncio.sleep(0.5)
        wall = await conn.fetchval("SELECT at FROM sweep_watermark WHERE consumer = $1", APP)
        await conn.close()
        consumer = AIOKafkaConsumer(
            COORDINATION_TOPIC, bootstrap_servers=s.require_kafka(), auto_offset_reset="earliest"
        )
        await consumer.start()
        sent: Counter[str] = Counter()
        quiet = 0
        while quiet < 3:
            batch = await consumer.getmany(timeout_ms=1000)
            quiet = 0 if batch else quiet + 1
            for recs in batch.values():
                for r in recs:
                    sent[orjson.loads(r.value)["id"]] += 1
        await consumer.stop()
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
        data_dir = s.data_dir
    t1 = time.monotonic()
    truth = notice_truth(city, rules, end)
    timings["truth"] = time.monotonic() - t1
    # against the truth: each claim's thread (now) → the matters of its records
    matter_of: dict[str, str] = {}
    for e in city:
        node = case_record(e.event)
        if node and e.truth.get("matter"):
            matter_of[node] = e.truth["matter"]
    matters: dict[str, set[str]] = {}
    for r in threads:
        if r["case_id"] in matter_of:
            matters.setdefault(r["thread_id"], set()).add(matter_of[r["case_id"]])
    got = Counter(
        (min(matters.get(c["now_thread"], {"?"})), c["type"], c["due_at"]) for c in claims
    )
    want = Counter((x["matter"], x["type"], x["due"]) for x in truth)
    missing, extra = want - got, got - want
    per_slot = Counter((c["now_thread"], c["slot"]) for c in claims)
    twice = sum(v - 1 for v in per_slot.values() if v > 1)
    early = [c["notice_id"] for c in claims if c["swept_at"] is None or c["swept_at"] < c["due_at"]]
    resent = sum(v - 1 for v in sent.values())
    print(header("coordination notices from real workers against the ground truth"))
    print(
        f"{len(city):,} events (seed {seed}), {end:%Y-%m-%d %H:%M} the last; {workers} workers,"
        f" {killed} SIGKILLs; data in {data_dir}"
    )
    for k in kill_log:
        print("  " + k)
    print("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    print(
        f"ground truth: {sum(want.values()):,} notices due by the city's end;"
        f" claimed {len(claims):,}; raised and right: {sum((want & got).values()):,};"
        f" missed: {sum(missing.values()):,}; not in the truth: {sum(extra.values()):,}"
    )
    print(
        f"early (claimed at a watermark before the due instant): {len(early)};"
        f" twice under two ids (thread, slot): {twice};"
        f" on hub.coordination: {len(sent):,} ids in {sum(sent.values()):,} records"
        f" ({resent} sent again after a kill); archived {archived:,}"
    )
    print(
        f"watermark at the end {wall}; sampled {samples} times ({len(seen - {None})} distinct),"
        f" ahead of the applied positions: {len(ahead)}"
    )
    for a in ahead[:3]:
        print("  ahead e.g.", a)
    for k, c in list(missing.items())[:5]:
        print("  missed e.g.", k, c)
    for k, c in list(extra.items())[:5]:
        print("  extra e.g.", k, c)
    if dump:
        evs: dict[str, list[Any]] = {}
        for e in city:
            if e.truth.get("matter"):
                evs.setdefault(e.truth["matter"], []).append(
                    (e.time.isoformat(), e.event["type"], e.event["subject"], e.event.get("data"))
                )
        out = {
            "missing": [[*map(str, k), c] for k, c in missing.items()],
            "extra": [[*map(str, k), c] for k, c in extra.items()],
            "events": {m: evs.get(m, []) for m in {k[0] for k in (*missing, *extra)}},
        }
        data = orjson.dumps(out, default=str, option=orjson.OPT_INDENT_2)
        await asyncio.to_thread(Path(dump).write_bytes, data)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--kill-every", type=float, default=20.0, help="seconds between kills")
    ap.add_argument(
        "--kills-from", choices=("batch", "claim"), default="batch", help="the first batch or claim"
    )
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--rate", type=float, default=0, help="events/s published (0: at once)")
    ap.add_argument("--dump", default="", help="write every miss and extra to this JSON file")
    a = ap.parse_args()
    asyncio.run(
        run(
            a.events,
            a.workers,
            a.kills,
            a.kill_every,
            a.seed,
            a.rate,
            a.dump,
            a.kills_from == "claim",
        )
    )
