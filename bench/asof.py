"""As-of reads (issue 12): a person and a thread with ~10,000 events behind each, read as the
hub knew them at random instants through the as-of views, next to the baseline of the same
events run through the pure projection from the archive (in the same run), and the live
read of the same subject.

    .venv/bin/python -m bench.asof [--events 10000] [--reads 200] [--batch 50]

The events arrive in batches of ``--batch`` a second apart in log time (each batch its own
instant), as a live hub takes them in: a resident who moves house again and again and is
named in city cases, and one city case thread handled, returned and extended over and over.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from bench.common import fresh_db, header, stack
from hub.sim import story
from projections.coordination.rules import load_rules
from projections.db import create_pool
from projections.intake import InboundRecord, split
from projections.matching import load_model
from projections.memory import InMemoryReadModel
from projections.reads import cases as cases_reads
from projections.reads import persons as persons_reads
from projections.reads.asof import Instant, as_of
from projections.store import Store

NID = "11010519491231002X"


def _events(n: int) -> list[dict[str, Any]]:
    t0 = story.EPOCH
    ev = story.event
    home = {"text": "北京市朝阳区望京街道阜通东大街6号院1号楼1单元101室", "grid": "11010500100101"}
    out = [
        ev("civil", "civil.resident.registered", "b-0", t0, "R-B",
           {"resident_id": "R-B", "household_id": "H-B", "address": home,
            "person": {"national_id": NID, "name": "张伟", "phone": "13800138000"}}),
        ev("city", "city.case.reported", "b-c", t0, "C-B",
           {"case_id": "C-B", "category": "neighbour-dispute", "description": "噪音",
            "channel": "grid-member", "address": home,
            "persons": [{"role": "party", "person": {"name": "张伟", "national_id": NID}}]}),
    ]  # fmt: skip
    half = n
    for i in range(1, half):
        t = t0 + timedelta(hours=i)
        if i % 10 == 0:  # named in another city case now and then
            out.append(
                ev("city", "city.case.reported", f"b-p{i}", t, f"C-B{i}",
                   {"case_id": f"C-B{i}", "category": "noise", "description": "噪音",
                    "channel": "hotline", "address": home,
                    "persons": [{"role": "reporter",
                                 "person": {"name": "张伟", "national_id": NID}}]})
            )  # fmt: skip
        else:
            out.append(
                ev("civil", "civil.resident.moved", f"b-m{i}", t, "R-B",
                   {"resident_id": "R-B", "moved_on": (t0 + timedelta(days=i)).date().isoformat(),
                    "address": {"text": f"北京市朝阳区望京街道广顺北大街{i % 97 + 1}号1号楼"
                                        f"1单元{i % 9 + 1}01室", "grid": "11010500100102"}})
            )  # fmt: skip
    for i in range(half, 2 * n):  # the thread: dispatched, handled, returned, over and over
        t = t0 + timedelta(hours=i)
        kind = ("city.case.dispatched", "city.case.handled", "city.case.returned")[i % 3]
        data: dict[str, Any] = {"case_id": "C-B"}
        if kind == "city.case.dispatched":
            data["department"] = f"dept-{i % 5}"
            data["due_at"] = (t + timedelta(days=2)).isoformat()
        elif kind == "city.case.handled":
            data["result"] = f"第{i}次处置"
        else:
            data["by_department"] = f"dept-{i % 5}"
            data["reason"] = f"第{i}次退回"
        out.append(ev("city", kind, f"b-t{i}", t, "C-B", data))
    return out


def _records(events: list[dict[str, Any]], batch: int, start_ms: int) -> list[list[InboundRecord]]:
    batches = []
    offsets: dict[str, int] = {}
    for b in range(0, len(events), batch):
        ts = start_ms + (b // batch) * 1000
        chunk = []
        for e in events[b : b + batch]:
            topic = f"agency.{e['agency']}"
            o = offsets.get(topic, 0)
            offsets[topic] = o + 1
            chunk.append(
                InboundRecord(topic, 0, o, e["subject"].encode(), orjson.dumps(e), ts + len(chunk))
            )
        batches.append(chunk)
    return batches


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[max(0, int(len(xs) * q) - 1)] * 1000


async def run(n: int, reads: int, batch: int) -> None:
    print(header("as-of reads (issue 12)"), f"events={n} reads={reads} batch={batch}")
    with stack() as s:
        url = await fresh_db(s, "bench_asof")
        pool = await create_pool(url, max_size=4, custom_plans=True)
        store = Store(pool, "bench", s.agencies, load_model(), rules=load_rules())
        events = _events(n)
        start = datetime(2026, 11, 1, tzinfo=UTC)
        start_ms = int(start.timestamp() * 1000)
        t0 = time.perf_counter()
        batches = _records(events, batch, start_ms)
        for chunk in batches:
            await store.apply_batch(chunk)
        load_s = time.perf_counter() - t0
        await store.analyze()
        end = start + timedelta(seconds=len(batches))
        mid = start + (end - start) / 2
        pid = (await persons_reads.persons_by_national_id(pool, NID))[0]
        cid = await pool.fetchval(
            "SELECT entity_id FROM record_link WHERE entity_kind = 'case' AND record_id = 'C-B'"
        )
        per_subject = await pool.fetchrow(
            "SELECT count(*) FILTER (WHERE entity_kind = 'case' AND entity_id = $1) AS thread,"
            " count(*) FILTER (WHERE entity_kind = 'record' AND entity_id LIKE '%R-B') AS resident"
            " FROM event_entity",
            cid,
        )
        print(f"loaded {len(events)} events in {load_s:.1f}s ({len(batches)} batches);"
              f" thread events {per_subject['thread']}, resident record events"
              f" {per_subject['resident']}")  # fmt: skip
        rng = random.Random(7)
        # Each subject read at instants over its own life (the person's events come first,
        # then the thread's), and at its end, with all of its events behind it.
        lives = {"person": (start, mid), "case": (mid, end)}

        def instants_of(kind: str) -> list[datetime]:
            a, b = lives[kind]
            return [a + (b - a) * rng.random() for _ in range(reads)]

        async def timed(kind: str, live: bool, instants: list[datetime]) -> list[float]:
            lat = []
            for t in instants:
                t1 = time.perf_counter()
                if live:
                    if kind == "person":
                        await persons_reads.person(pool, pid)
                    else:
                        await cases_reads.case(pool, cid, t)
                else:
                    async with as_of(pool, Instant(t)) as conn:
                        if kind == "person":
                            await persons_reads.person(conn, pid)
                        else:
                            await cases_reads.case(conn, cid, t)
                lat.append(time.perf_counter() - t1)
            return lat

        # Baseline: the subject's events up to the instant, read from the archive and run
        # through the pure projection (in memory), for a few instants (it is slow).
        async def baseline(kind: str, ent: str, instants: list[datetime]) -> list[float]:
            lat = []
            sql = (
                'SELECT a.topic, a.partition, a."offset", a.data, a.type, a.source, a.event_id,'
                " a.agency, a.time, a.subject, a.version FROM event_archive a"
                " WHERE (a.source, a.event_id) IN (SELECT source, event_id FROM event_entity"
                " WHERE entity_kind = $1 AND entity_id LIKE $2) AND a.known_from <= $3"
                ' ORDER BY a.known_from, a.topic, a."offset"'
            )
            for t in instants:
                t1 = time.perf_counter()
                rows = await pool.fetch(sql, kind, ent, t)
                recs = []
                for r in rows:
                    env = {
                        "specversion": "1.0", "id": r["event_id"], "source": r["source"],
                        "type": r["type"], "time": r["time"].isoformat(),
                        "subject": r["subject"], "agency": r["agency"],
                        "datacontenttype": "application/json",
                        "dataschema": "https://civic-hub.example/schemas/"
                        f"{r['agency']}/{r['type']}/v{r['version']}",
                        "data": r["data"],
                    }  # fmt: skip
                    recs.append(
                        InboundRecord(r["topic"], r["partition"], r["offset"], None,
                                      orjson.dumps(env))
                    )  # fmt: skip
                accepted, _ = split(recs, s.agencies)
                InMemoryReadModel().apply(accepted)
                lat.append(time.perf_counter() - t1)
            return lat

        for kind in ("person", "case"):
            instants = instants_of(kind)
            live = await timed(kind, True, instants)
            asof = await timed(kind, False, instants)
            at_end = await timed(kind, False, [lives[kind][1]] * 20)
            ent = ("record", "%R-B") if kind == "person" else ("case", cid)
            base = await baseline(*ent, instants[:20])
            print(
                f"{kind:6}: as-of p50 {pct(asof, 0.5):7.1f} ms  p95 {pct(asof, 0.95):7.1f} ms"
                f" | live p50 {pct(live, 0.5):6.1f} ms p95 {pct(live, 0.95):6.1f} ms"
                f" | baseline (archive + pure projection) p50 {pct(base, 0.5):7.1f} ms"
                f" p95 {pct(base, 0.95):7.1f} ms | as-of/baseline p95"
                f" {pct(asof, 0.95) / pct(base, 0.95):.3f}x | as-of with every event behind it"
                f" p95 {pct(at_end, 0.95):.1f} ms"
            )
        await pool.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--reads", type=int, default=200)
    ap.add_argument("--batch", type=int, default=50)
    a = ap.parse_args()
    asyncio.run(run(a.events, a.reads, a.batch))


if __name__ == "__main__":
    main()
