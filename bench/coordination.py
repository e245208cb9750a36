"""Coordination notices on a simulated city (issue 13): the city's events applied in order of
simulated time, and after each step (``--step-minutes``) ``--sweepers`` sweepers at once
raise what fell due by the step's end. Checked against the simulator's ground truth
(:mod:`hub.sim.notices`: per matter, each notice and when it falls due): none twice, none
early (raised at an instant before it fell due), none missed; a notice whose stage was done
within one step of its due instant may fall between two sweeps (counted apart: the live
sweep runs every second). Also the cost of a sweep with nothing due, against how many
threads are closed (the partial index keeps it flat).

    .venv/bin/python -m bench.coordination --events 20000 --sweepers 2

``--live RATE``: how late notices are raised while RATE events/s flow through real workers
(issue 13: "within 5 s of its due instant while 2,000 events/s flow"). ``--workers`` stream
workers run under rules whose working day is the whole day (so a due instant can be set
seconds ahead at any hour); a simulated city is published at RATE for ``--seconds``, its
times rewritten to the instant each is sent (its clocks start now and fall due after the
run), and twice a second a probe case is reported whose yellow warning falls due
``--ahead`` seconds later. Lateness: when the notice arrives on ``hub.coordination`` minus
the instant it fell due (its CloudEvent ``time``). The intake's lag is reported beside it.

    .venv/bin/python -m bench.coordination --live 2000 --seconds 60 --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench.common import header, stack
from bench.quality import case_record
from hub.sim.city import Emitted, SimConfig, simulate
from hub.sim.notices import notice_truth
from projections.coordination.due import sweep
from projections.coordination.notices import Notice
from projections.coordination.rules import load_rules
from projections.db import create_pool, migrate
from projections.decide import Decision
from projections.intake import InboundRecord
from projections.matching import load_model
from projections.store import Store
from schemas.topics import resolution_topic

RESOLUTION = resolution_topic("hub.internal.streams")


class Crash(Exception):
    """A sweeper dying after the broker acknowledged its notices, before its claims commit
    (as a SIGKILL there would): the claims roll back, the notices went out."""


async def main(
    n: int, step_minutes: float, sweepers: int, seed: int, crashes: int = 0, dump: str = ""
) -> None:
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

        sends = [0]
        crash_on = {int(4 * 1.9**k) for k in range(crashes)}  # the 4th, 7th, 14th, … send
        crashed: list[int] = []

        def sink(at: datetime):  # type: ignore[no-untyped-def]
            async def send(ns: Sequence[Notice]) -> None:
                await asyncio.sleep(0)  # let the other sweepers in, as a broker's ack would
                sends[0] += 1
                for x in ns:
                    if x.id in raised:
                        twice.append(x.id)  # the same id again: only after a crash
                    if x.due > at:
                        early.append(x.id)
                    raised.setdefault(x.id, (x, at))
                if sends[0] in crash_on:
                    crashed.append(len(ns))
                    raise Crash

            return send

        async def sweeps(at: datetime) -> None:
            for r in await asyncio.gather(
                *(sweep(pool, rules, sink(at), at) for _ in range(sweepers)), return_exceptions=True
            ):
                if isinstance(r, BaseException) and not isinstance(r, Crash):
                    raise r

        step = timedelta(minutes=step_minutes)
        t, i, steps = city[0].time, 0, 0
        apply_s = sweep_s = 0.0
        while i < len(city) or decided:
            end = t + step
            j = i
            # events at the very instant of the sweep come first: the truth counts a notice
            # due at the instant its stage is done as not due
            while j < len(city) and city[j].time <= end:
                j += 1
            if j == i and not decided:  # nothing happens: jump to just before the next event
                tick = timedelta(microseconds=1)
                end = max(end, min(city[j].time - tick, t + timedelta(days=1)))
                await sweeps(end)
                t = end
                continue
            t0 = time.perf_counter()
            for k in range(i, max(j, i + 1), 500):
                await store.apply_batch(records(city[k : min(k + 500, j)]), decisions=decide)
            while decided:
                await store.apply_batch(records([]), decisions=decide)
            t1 = time.perf_counter()
            await sweeps(end)
            sweep_s += time.perf_counter() - t1
            apply_s += t1 - t0
            i, t, steps = j, end, steps + 1
        # against the simulator's truth: each raised notice's thread → the matter of its records
        matter_of = {}
        for e in city:
            node = case_record(e.event)
            if node and e.truth.get("matter"):
                matter_of[node] = e.truth["matter"]
        matters: dict[str, set[str]] = {}
        for r in await pool.fetch("SELECT case_id, thread_id FROM case_thread"):
            if r["case_id"] in matter_of:
                matters.setdefault(r["thread_id"], set()).add(matter_of[r["case_id"]])
        got = Counter(
            (min(matters.get(x.case_id, {"?"})), x.type, x.due) for x, _ in raised.values()
        )
        truth = notice_truth(city, rules, t)
        want = Counter((x["matter"], x["type"], x["due"]) for x in truth)
        missing, extra = want - got, got - want
        events_at = {}
        for e in city:
            if e.truth.get("matter"):
                events_at.setdefault(e.truth["matter"], []).append(e.time)
        between = sum(
            c
            for (m, _, due), c in missing.items()
            if any(due <= at < due + step for at in events_at.get(m, []))
        )
        claimed = await pool.fetchval("SELECT count(*) FROM notice_claim")
        # matters the hub has to join across agencies (a 110 call referred to the city)
        referred = {
            e.truth["matter"] for e in city if e.event["type"] == "police.incident.referred"
        }
        extra_referred = sum(c for (m, _, _), c in extra.items() if m in referred)
        missing_referred = sum(c for (m, _, _), c in missing.items() if m in referred)
        rows = await pool.fetchval("SELECT count(*) FROM thread_due")
        open_ = await pool.fetchval("SELECT count(*) FROM thread_due WHERE due_at IS NOT NULL")
        t0 = time.perf_counter()
        for _ in range(50):
            await sweep(pool, rules, sink(t), t)
        idle_ms = (time.perf_counter() - t0) / 50 * 1000
        await pool.close()
    print(header("coordination notices on a simulated city"))
    print(
        f"{len(city):,} events (seed {seed}), {steps:,} steps of {step_minutes:g} min simulated,"
        f" {sweepers} sweepers at once; apply {apply_s:.1f} s, sweeps {sweep_s:.1f} s"
    )
    print(f"notices raised: {len(raised):,} ({dict(Counter(x.type for x, _ in raised.values()))})")
    resent = len(twice)
    print(
        f"claims: {claimed:,}; early: {len(early)}; sweepers crashed after the acks:"
        f" {len(crashed)} (holding {sum(crashed)} notices), ids sent again after them:"
        f" {resent} (the archive keeps one per id); raised twice under two ids: see"
        " 'not in the truth'"
    )
    print(
        f"ground truth: {sum(want.values()):,} notices due; raised and right:"
        f" {sum((want & got).values()):,}; missed: {sum(missing.values()):,} (of which"
        f" {between:,} had their matter move within one step after falling due);"
        f" raised but not in the truth: {sum(extra.values()):,}"
    )
    print(
        f"on matters of a 110 call referred to the city (joined by a referral decision):"
        f" missed {missing_referred:,}, not in the truth {extra_referred:,}"
    )
    if dump:
        # every miss and extra with its matter's events, for a closer look
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
    for k, c in list(missing.items())[:3]:
        print("  missed e.g.", k, c)
    for k, c in list(extra.items())[:3]:
        print("  extra e.g.", k, c)
    print(
        f"threads with a clock: {rows:,}, with a notice pending: {open_:,};"
        f" a sweep with nothing due: {idle_ms:.2f} ms"
    )


LIVE_RULES = """
id = "bench/all-day"
version = 1
timezone = "UTC"
working_periods = [["00:00", "23:59:59"]]
stages = ["register", "dispatch", "handle", "verify", "close"]
[limits]
register = "2h"
dispatch = "2h"
handle = "3d"
verify = "4h"
close = "1d"
[ladder]
levels = ["grid", "community", "street", "district"]
command_center = "district"
[supervision]
yellow_at = 0.8
red_at = 1.0
supervised_after = "5d"
raised_after = "10d"
[bounce]
bounced_at = 2
raised_at = 3
[categories.garbage]
agency = "city"
department = "环卫所"
level = "grid"
[calendar]
holidays = []
workdays = [WORKDAYS]
"""


async def _until(done: Callable[[], bool], seconds: float) -> None:
    for _ in range(int(seconds * 5)):
        if done():
            return
        await asyncio.sleep(0.2)


async def live(rate: int, seconds: int, workers: int, ahead: float, seed: int) -> None:
    """Notice lateness with ``workers`` real workers while ``rate`` events/s flow."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from bench.common import child_env, fresh_db, spawn
    from hub.sim.story import event
    from hub.topics import ensure_topics
    from projections.ids import hub_id, ref_key
    from schemas.topics import COORDINATION_TOPIC, agency_topic

    now = datetime.now(UTC)
    weekend = [  # today and the next days worked, whatever day the run falls on
        f'"{(now + timedelta(days=d)).date()}"'
        for d in range(-1, 3)
        if (now + timedelta(days=d)).weekday() >= 5
    ]
    yellow = timedelta(hours=2) * 0.8  # the register limit's yellow share, all-day hours
    with stack() as s:
        await ensure_topics(s)
        db = await fresh_db(s, "bench_notice_live")
        rules = s.data_dir / "rules.toml"
        rules.write_text(LIVE_RULES.replace("WORKDAYS", ", ".join(weekend)))
        env = child_env(
            s,
            HUB_DATABASE_URL=db,
            HUB_RULES=str(rules),
            HUB_STREAMS_APP_ID="hub.internal.benchlive",
        )
        procs = [
            spawn(
                ["-m", "hub.worker", "worker", "--without-web", "-l", "warn"],
                env,
                s.data_dir / f"worker{i}.log",
            )
            for i in range(workers)
        ]
        load = [e.event for e in simulate(SimConfig(seed=seed, events=rate * seconds))]
        producer = AIOKafkaProducer(bootstrap_servers=s.require_kafka(), linger_ms=5)
        consumer = AIOKafkaConsumer(
            COORDINATION_TOPIC, bootstrap_servers=s.require_kafka(), auto_offset_reset="latest"
        )
        await producer.start()
        await consumer.start()
        probes: dict[str, datetime] = {}  # thread id → when its yellow warning falls due
        arrived: dict[str, float] = {}  # thread id → lateness (s)
        arrived_at: dict[str, datetime] = {}
        events_of: dict[str, str] = {}  # thread id → its report's event id
        applied: dict[str, datetime] = {}  # thread id → when its report was seen archived
        stop = asyncio.Event()
        watch = await asyncpg.connect(db)

        async def applied_watch() -> None:
            while not stop.is_set():
                todo = {e: t for t, e in events_of.items() if t not in applied}
                if todo:
                    rows = await watch.fetch(
                        "SELECT event_id FROM event_archive WHERE source = '/agency/city/demo'"
                        " AND event_id = ANY($1::text[])",
                        list(todo),
                    )
                    at = datetime.now(UTC)
                    for r in rows:
                        applied[todo[r[0]]] = at
                await asyncio.sleep(0.1)

        async def listen() -> None:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                at = datetime.now(UTC)
                for recs in batch.values():
                    for r in recs:
                        n = orjson.loads(r.value)
                        due = datetime.fromisoformat(n["time"])
                        if n["subject"] in probes and n["type"] == "hub.case.warned":
                            arrived.setdefault(n["subject"], (at - due).total_seconds())
                            arrived_at.setdefault(n["subject"], at)

        async def probe(i: int, tag: str) -> None:
            case = f"{tag}-{i:05d}"
            due = datetime.now(UTC) + timedelta(seconds=ahead)
            tid = hub_id("C", ref_key("city", "case", case))
            probes[tid] = due
            events_of[tid] = f"{case}-r"
            data = {
                "case_id": case,
                "category": "garbage",
                "description": "楼道堆放杂物",
                "channel": "hotline",
                "address": {"text": "朝阳区望京街道阜通东大街6号", "grid": f"99{i:012d}"},
            }
            ev = event("city", "city.case.reported", f"{case}-r", due - yellow, case, data)
            await producer.send(agency_topic("city"), orjson.dumps(ev), key=case.encode())

        listener = asyncio.create_task(listen())
        watcher = asyncio.create_task(applied_watch())
        # the workers up: a probe before the load is raised
        await probe(0, "warm")
        await _until(lambda: bool(arrived) or any(p.poll() is not None for p in procs), 180)
        if not arrived:
            raise SystemExit(f"no notice from the workers; see {s.data_dir}/worker0.log")
        warm = dict(arrived)
        for d in (arrived, arrived_at, probes, events_of, applied):
            d.clear()
        sent = 0
        t0 = time.monotonic()
        ends: dict[tuple[str, int], int] = {}
        futs = []
        while sent < len(load):
            elapsed = time.monotonic() - t0
            target = min(len(load), int(elapsed * rate))
            for e in load[sent:target]:
                e = {**e, "time": datetime.now(UTC).isoformat()}
                futs.append(
                    await producer.send(
                        agency_topic(e["agency"]), orjson.dumps(e), key=e["subject"].encode()
                    )
                )
            sent = target
            if len(probes) < elapsed * 2 and elapsed * 1000 < (seconds * 1000 - ahead * 1000):
                await probe(len(probes) + 1, "probe")
            await asyncio.sleep(0.01)
        load_s = time.monotonic() - t0
        for f in futs:
            md = await f
            ends[(md.topic, md.partition)] = max(ends.get((md.topic, md.partition), 0), md.offset)
        await _until(lambda: len(arrived) >= len(probes), ahead + 120)
        conn = await asyncpg.connect(db)
        lag_s = time.monotonic() - t0 - load_s
        have = {
            (r[0], r[1]): r[2]
            for r in await conn.fetch("SELECT topic, partition, next_offset FROM stream_position")
        }
        behind = sum(max(0, e + 1 - have.get(tp, 0)) for tp, e in ends.items())
        await conn.close()
        stop.set()
        await listener
        await watcher
        await watch.close()
        await producer.stop()
        await consumer.stop()
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    late = sorted(arrived.values())
    # the sweeper's own part: from when the notice could be raised (due, and its report
    # archived) to when it arrived
    own = sorted(
        (arrived_at[t] - max(probes[t], applied[t])).total_seconds()
        for t in arrived_at
        if t in applied
    )
    after_due = sum(1 for t, a in applied.items() if a > probes[t])
    print(header("notice lateness under load"))
    print(
        f"{len(load):,} events published in {load_s:.1f} s ({len(load) / load_s:,.0f}/s),"
        f" {workers} worker(s); probes due {ahead:g} s after they are sent"
    )
    if late:
        q = statistics.quantiles(late, n=100) if len(late) > 1 else late * 99
        print(
            f"notices raised: {len(late)} of {len(probes)}; lateness p50 {q[49]:.2f} s,"
            f" p99 {q[98]:.2f} s, max {late[-1]:.2f} s (warm-up probe: {list(warm.values())})"
        )
    if own:
        q = statistics.quantiles(own, n=100) if len(own) > 1 else own * 99
        print(
            f"reports archived only after their due instant: {after_due} of {len(applied)};"
            f" from due-and-archived to raised: p50 {q[49]:.2f} s, p99 {q[98]:.2f} s,"
            f" max {own[-1]:.2f} s"
        )
    print(f"after the last send: {lag_s:.1f} s waited; records not applied then: {behind:,}")


async def kills(cases: int, workers: int, kills: int, every: float) -> None:
    """Exactly once across SIGKILLs: ``cases`` garbage cases reported long ago and never
    touched again (each owes its whole ladder: warned yellow and red, urged, supervised,
    raised) go to ``workers`` real workers, and while they raise the ladders one of them is
    SIGKILLed and restarted, ``kills`` times. Then every ladder must be on
    ``hub.coordination`` and in the archive exactly once per thread, kind and level (an id
    may be sent again after a kill between the broker's ack and the claim's commit: the
    archive keeps one per id)."""
    import random
    import signal

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from bench.common import child_env, fresh_db, spawn
    from hub.sim.story import event
    from hub.topics import ensure_topics
    from schemas.topics import COORDINATION_TOPIC, agency_topic

    rng = random.Random(7)
    reported = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # a working Tuesday, 09:00 in Beijing
    with stack() as s:
        await ensure_topics(s)
        db = await fresh_db(s, "bench_notice_kills")
        env = child_env(s, HUB_DATABASE_URL=db, HUB_STREAMS_APP_ID="hub.internal.benchkills")

        def start(i: int) -> Any:
            return spawn(
                ["-m", "hub.worker", "worker", "--without-web", "-l", "warn"],
                env,
                s.data_dir / f"worker{i}.log",
            )

        procs = [start(i) for i in range(workers)]
        producer = AIOKafkaProducer(bootstrap_servers=s.require_kafka(), linger_ms=5)
        await producer.start()
        t0 = time.monotonic()
        for i in range(cases):
            case = f"K-{i:06d}"
            data = {
                "case_id": case,
                "category": "garbage",
                "description": "楼道堆放杂物",
                "channel": "hotline",
                "address": {"text": "朝阳区望京街道阜通东大街6号", "grid": f"99{i % 500:012d}"},
            }
            ev = event("city", "city.case.reported", f"{case}-r", reported, case, data)
            await producer.send(agency_topic("city"), orjson.dumps(ev), key=case.encode())
        await producer.flush()
        await producer.stop()
        conn = await asyncpg.connect(db)
        want = cases * 5
        killed = 0
        while time.monotonic() - t0 < 900:
            claimed = await conn.fetchval("SELECT count(*) FROM notice_claim")
            if claimed >= want:
                break
            if claimed > 0 and killed < kills and time.monotonic() - t0 > every * (killed + 1):
                i = rng.randrange(workers)
                procs[i].send_signal(signal.SIGKILL)
                procs[i].wait()
                procs[i] = start(i)
                killed += 1
                print(f"SIGKILL worker {i} at {time.monotonic() - t0:.1f} s, {claimed:,} claimed")
            await asyncio.sleep(0.5)
        raise_s = time.monotonic() - t0
        claimed = await conn.fetchval("SELECT count(*) FROM notice_claim")
        archived = 0
        for _ in range(240):  # the workers archive the notices they read back
            archived = await conn.fetchval(
                "SELECT count(*) FROM event_archive WHERE agency = 'hub'"
            )
            if archived >= claimed:
                break
            await asyncio.sleep(0.5)
        await conn.close()
        consumer = AIOKafkaConsumer(
            COORDINATION_TOPIC, bootstrap_servers=s.require_kafka(), auto_offset_reset="earliest"
        )
        await consumer.start()
        sent: Counter[str] = Counter()
        per: dict[tuple[str, str, str], set[str]] = {}
        quiet = 0
        while quiet < 3:
            batch = await consumer.getmany(timeout_ms=1000)
            quiet = 0 if batch else quiet + 1
            for recs in batch.values():
                for r in recs:
                    n = orjson.loads(r.value)
                    sent[n["id"]] += 1
                    key = (n["subject"], n["type"], n["data"].get("level", ""))
                    per.setdefault(key, set()).add(n["id"])
        await consumer.stop()
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    threads = {k[0] for k in per}
    twice = sum(1 for ids in per.values() if len(ids) > 1)
    print(header("notices exactly once across SIGKILLs"))
    print(
        f"{cases:,} overdue cases (a ladder of 5 each: {want:,} notices), {workers} workers,"
        f" {killed} SIGKILLs while raising; all claimed after {raise_s:.0f} s"
    )
    print(
        f"claims {claimed:,}; on hub.coordination {len(sent):,} distinct ids in"
        f" {sum(sent.values()):,} records ({sum(c - 1 for c in sent.values()):,} sent again);"
        f" archived {archived:,}"
    )
    print(
        f"threads with notices {len(threads):,} of {cases:,}; (thread, kind, level) under two"
        f" ids: {twice}; missing: {want - len(per):,}"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--step-minutes", type=float, default=10.0)
    ap.add_argument("--sweepers", type=int, default=2)
    ap.add_argument("--dump", default="", help="write every miss and extra to this JSON file")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--crashes", type=int, default=0, help="sweepers killed after the acks")
    ap.add_argument("--live", type=int, default=0, help="events/s through real workers")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--ahead", type=float, default=10.0)
    ap.add_argument("--kill-cases", type=int, default=0, help="overdue cases, SIGKILLs")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--kill-every", type=float, default=8.0)
    a = ap.parse_args()
    if a.kill_cases:
        asyncio.run(kills(a.kill_cases, a.workers, a.kills, a.kill_every))
    elif a.live:
        asyncio.run(live(a.live, a.seconds, a.workers, a.ahead, a.seed))
    else:
        asyncio.run(main(a.events, a.step_minutes, a.sweepers, a.seed, a.crashes, a.dump))
