"""The replay tool's chronology and export (issue 12): two persons over a simulated five years.

Two residents, in a simulated city's background, have five years of matters with every
agency (city cases they report or are party to, each through its stages; 110 calls and
police cases they are involved in; court cases; moves), and a command center that reads
them through the hub; the chronology of both is asked as an investigator, then exported and
verified offline. Checkpoints are signed while the five years load, as the API's interval
would (every ``--checkpoint-every`` events), so the proofs reach the nearest checkpoint.

Baseline, same run: the chronology as a person would assemble it from the live routes
(the timeline of each thread of both persons and the audit trail of each).

    .venv/bin/python -m bench.replay [--months 60] [--background 10000] [--reads 800]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import fresh_db, header, stack
from hub.api.app import create_app
from hub.checkpoints import load_signing_key, write_checkpoints
from hub.replay_cli import verify_file
from hub.sim import city as simulator
from hub.sim import story
from hub.sim.people import national_id
from hub.tokens import Principal, TokenBook
from projections.coordination.rules import load_rules
from projections.db import create_pool
from projections.graph import canonical_persons
from projections.intake import InboundRecord
from projections.store import Store

INV, CC, AUD = "inv-token-0123456789abcdef", "cc-token-0123456789abcdef", "aud-0123456789abcdef"
START = datetime(2021, 12, 1, 1, 0, tzinfo=UTC)


def fresh_nid(seed: str) -> str:
    return national_id(random.Random(seed), "110105", datetime(1980, 1, 1, tzinfo=UTC), True)


def two_lives(months: int, seed: int) -> list[dict[str, Any]]:
    """Five years (``months``) of two neighbours' matters with every agency."""
    rng = random.Random(seed)
    ev = story.event
    a = {"national_id": fresh_nid("bench-a"), "name": "欧阳春晓", "phone": "13800000001"}
    b = {"national_id": fresh_nid("bench-b"), "name": "司马秋实", "phone": "13900000002"}
    home = {"text": "北京市朝阳区望京街道阜通东大街6号院3号楼2单元1201室", "grid": "11010500100101"}
    out = [
        ev(
            "civil",
            "civil.resident.registered",
            f"bl-reg-{k}",
            START,
            f"BR-{k}",
            {"resident_id": f"BR-{k}", "household_id": f"BH-{k}", "address": home, "person": p},
        )
        for k, p in (("a", a), ("b", b))
    ]
    n = 0
    for m in range(months):
        t = START + timedelta(days=30.4 * m, hours=rng.randrange(0, 200))
        for c in range(3):  # city cases, each through its stages
            n += 1
            cid, at = f"BC-{n:05d}", t + timedelta(days=9 * c)
            parties = [{"role": "party", "person": a}, {"role": "party", "person": b}]
            out.append(
                ev(
                    "city",
                    "city.case.reported",
                    f"bl-c{n}-0",
                    at,
                    cid,
                    {
                        "case_id": cid,
                        "category": "neighbour-dispute" if c == 0 else "noise",
                        "description": "楼上楼下噪音纠纷",
                        "channel": "grid-member",
                        "address": home,
                        "persons": parties,
                    },
                )
            )
            steps = [
                ("city.case.registered", {"due_at": (at + timedelta(days=1)).isoformat()}),
                (
                    "city.case.dispatched",
                    {
                        "department": "望京街道综治中心",
                        "due_at": (at + timedelta(days=2)).isoformat(),
                    },
                ),
                ("city.case.handled", {"result": "已调解"}),
                ("city.case.verified", {"passed": True}),
                ("city.case.closed", {"outcome": "办结"}),
            ]
            for k, (etype, data) in enumerate(steps, 1):
                out.append(
                    ev(
                        "city",
                        etype,
                        f"bl-c{n}-{k}",
                        at + timedelta(hours=3 * k),
                        cid,
                        {"case_id": cid, **data},
                    )
                )
        inc, pcase = f"BI-{m:04d}", f"BP-{m:04d}"
        at = t + timedelta(days=4)
        out += [
            ev(
                "police",
                "police.incident.reported",
                f"bl-i{m}",
                at,
                inc,
                {
                    "incident_id": inc,
                    "category": "dispute",
                    "summary": "邻里纠纷",
                    "address": home,
                    "caller": b if m % 2 else a,
                },
            ),
            ev(
                "police",
                "police.case.opened",
                f"bl-p{m}-0",
                at + timedelta(hours=2),
                pcase,
                {"case_id": pcase, "offence": "寻衅滋事", "incident_id": inc, "address": home},
            ),
            ev(
                "police",
                "police.person.involved",
                f"bl-p{m}-1",
                at + timedelta(hours=3),
                pcase,
                {"case_id": pcase, "role": "victim", "person": a if m % 2 else b},
            ),
        ]
        if m % 6 == 5:
            fcase = f"BF-{m:04d}"
            at = t + timedelta(days=20)
            out += [
                ev(
                    "court",
                    "court.case.filed",
                    f"bl-f{m}-0",
                    at,
                    fcase,
                    {
                        "case_id": fcase,
                        "case_type": "civil",
                        "cause": "相邻关系纠纷",
                        "parties": [
                            {"role": "plaintiff", "person": b},
                            {"role": "defendant", "person": a},
                        ],
                        "refs": [{"agency": "police", "kind": "case", "id": pcase}],
                    },
                ),
                ev(
                    "court",
                    "court.hearing.scheduled",
                    f"bl-f{m}-1",
                    at + timedelta(days=1),
                    fcase,
                    {"case_id": fcase, "at": (at + timedelta(days=14)).isoformat()},
                ),
                ev(
                    "court",
                    "court.judgment.issued",
                    f"bl-f{m}-2",
                    at + timedelta(days=15),
                    fcase,
                    {"case_id": fcase, "outcome": "调解结案"},
                ),
            ]
        if m % 12 == 11:
            out.append(
                ev(
                    "civil",
                    "civil.resident.moved",
                    f"bl-mv{m}",
                    t,
                    "BR-a",
                    {"resident_id": "BR-a", "address": home, "moved_on": f"{t:%Y-%m-%d}"},
                )
            )
    return out


def records(events: list[dict[str, Any]]) -> list[InboundRecord]:
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for e in events:
        topic = f"agency.{e['agency']}"
        part = sum(str(e["subject"]).encode()) % 4
        off = offsets.get((topic, part), 0)
        offsets[(topic, part)] = off + 1
        known = datetime.fromisoformat(e["time"]) + timedelta(minutes=7)
        out.append(
            InboundRecord(
                topic,
                part,
                off,
                str(e["subject"]).encode(),
                orjson.dumps(e),
                int(known.timestamp() * 1000),
            )
        )
    return out


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
    return f"median {statistics.median(xs) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"


async def main(args: argparse.Namespace) -> None:
    lives = two_lives(args.months, args.seed)
    city = [
        e.event
        for e in simulator.simulate(simulator.SimConfig(seed=args.seed, events=args.background))
    ]
    events = sorted(lives + city, key=lambda e: e["time"])
    print(header("bench.replay"))
    print(
        f"{len(lives):,} events of the two persons over {args.months} months,"
        f" {len(city):,} of the city around them"
    )
    with stack() as s:
        url = await fresh_db(s, "bench_replay")
        s = dataclasses.replace(
            s, database_url=url, data_dir=Path(tempfile.mkdtemp()), audit_checkpoint_seconds=3600
        )
        pool = await create_pool(url)
        store = Store(pool, "bench-replay", s.agencies, rules=load_rules())
        key, signed = load_signing_key(s), {}
        recs = records(events)
        t0 = time.perf_counter()
        for i in range(0, len(recs), args.checkpoint_every):
            await store.apply_batch(recs[i : i + args.checkpoint_every])
            await write_checkpoints(pool, key, signed)
        print(f"loaded in {time.perf_counter() - t0:.1f}s")
        pids = await canonical_persons(pool, ["civil:resident:BR-a", "civil:resident:BR-b"])
        persons = sorted(set(pids.values()))
        tokens = TokenBook(
            {
                INV: Principal("inv-1", "police", "investigator"),
                CC: Principal("cc-1", "city", "command-center"),
                AUD: Principal("aud-1", "civil", "auditor"),
            }
        )
        app = create_app(s, tokens)
        inv = {
            "Authorization": f"Bearer {INV}",
            "X-Purpose": "investigation",
            "X-Case-Ref": "INQ-bench",
        }
        cc = {"Authorization": f"Bearer {CC}", "X-Purpose": "dispute-mediation"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://hub", timeout=120
            ) as c,
        ):
            for k in range(args.reads):
                r = await c.get(f"/v1/persons/{persons[k % len(persons)]}", headers=cc)
                assert r.status_code == 200, r.text
            await write_checkpoints(pool, key, signed)
            q = [("person", p) for p in persons]
            chron, base = [], []
            for _ in range(args.repeat):
                t = time.perf_counter()
                r = await c.get("/v1/replay/chronology", params=q, headers=inv)
                chron.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
                body = r.json()
            for _ in range(args.repeat):  # after: its own reads are audited too
                t = time.perf_counter()
                await baseline(c, persons, inv, cc)
                base.append(time.perf_counter() - t)
            n = body["counts"]
            print(
                f"chronology of two persons: {len(body['items']):,} items ({n['event']:,}"
                f" events, {n['read']:,} reads, {n['notice']:,} notices,"
                f" {n['withheld']:,} withheld): {_ms(chron)} over {args.repeat}"
            )
            print(f"baseline, the live timelines and audit trails of the same: {_ms(base)}")
            window = {
                "persons": persons,
                "from": "2021-01-01T00:00:00Z",
                "to": "2027-01-01T00:00:00Z",
            }
            t = time.perf_counter()
            r = await c.post("/v1/replay/exports", json=window, headers=inv)
            t_export = time.perf_counter() - t
            assert r.status_code == 200, r.text
        out = Path(s.data_dir) / "bundle.json"
        out.write_bytes(r.content)
        t = time.perf_counter()
        verdict = verify_file(out)
        t_verify = time.perf_counter() - t
        b = r.json()
        digests = sum(len(x["digests"]) for x in b["proofs"]["segments"])
        print(
            f"export: {t_export:.2f}s, {len(r.content) / 1e6:.1f} MB ({len(b['events']):,} events,"
            f" {len(b['audit']):,} audit rows, {len(b['proofs']['segments'])} segments,"
            f" {digests:,} chain rows); offline verify: {t_verify:.2f}s,"
            f" {'intact' if verdict.intact else verdict.problems[:3]};"
            f" export + verify {t_export + t_verify:.2f}s"
        )
        await pool.close()


async def baseline(c: httpx.AsyncClient, persons: list[str], inv: dict, cc: dict) -> None:
    """What the chronology replaces: each person, each of its threads' timelines (the
    command center's routes), and who read each (an auditor's route)."""
    aud = {"Authorization": f"Bearer {AUD}", "X-Purpose": "audit-review"}
    for p in persons:
        person = (await c.get(f"/v1/persons/{p}", headers=cc)).json()
        for case in person["cases"]:
            r = await c.get(f"/v1/cases/{case['case_id']}/timeline", headers=cc)
            assert r.status_code == 200, r.text
        cursor = None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = (await c.get(f"/v1/audit/subjects/{p}", params=params, headers=aud)).json()
            cursor = page["next"]
            if cursor is None:
                break


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument("--background", type=int, default=10_000, help="city events around them")
    ap.add_argument("--reads", type=int, default=800, help="command-center reads of the two")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--checkpoint-every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=12)
    asyncio.run(main(ap.parse_args()))
