"""Resolution quality against the simulator's ground truth: pairwise precision, recall and F1
for persons, places and case threads, at several noise levels.

    .venv/bin/python -m bench.quality [--events 40000] [--noise 0 0.1 0.3]

Each level: a fresh database, the simulated city applied through `Store.apply_batch` in log
order, with the resolver's decisions fed back as records of a resolution topic one batch
later (as the live workers read them back from the log). Then every mention's hub person,
every address's place and every agency record's thread is compared with the truth.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from bench.common import fresh_db, header, stack
from hub.config import Settings
from hub.sim.city import Emitted, SimConfig, simulate
from projections.address import parse as parse_address
from projections.coordination.rules import load_rules
from projections.db import create_pool
from projections.decide import Decision
from projections.graph import canonical_node, components
from projections.ids import hub_id, ref_key
from projections.intake import InboundRecord
from projections.matching import load_model
from projections.reads.places import as_one_place
from projections.store import Store

RESOLUTION = "hub.internal.bench.resolution"


def pairwise(pred: dict[str, str], truth: dict[str, str]) -> tuple[float, float, float]:
    """Pairwise precision/recall/F1 of a clustering ``pred`` against ``truth`` (item → id)."""

    def pairs(counts: Iterable[int]) -> int:
        return sum(n * (n - 1) // 2 for n in counts)

    items = pred.keys() & truth.keys()
    both = pairs(Counter((pred[i], truth[i]) for i in items).values())
    p_pairs = pairs(Counter(pred[i] for i in items).values())
    t_pairs = pairs(Counter(truth[i] for i in items).values())
    precision = both / p_pairs if p_pairs else 1.0
    recall = both / t_pairs if t_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def person_records(e: dict[str, Any], truth: dict[str, Any]) -> dict[str, str]:
    """Mentions in the event (truth path → record node), as the handlers name them."""
    d, t = e["data"], e["type"]
    out: dict[str, str] = {}
    for path, tp in truth.get("persons", {}).items():
        rec = None
        if t == "civil.resident.registered" and path == "person":
            rec = ref_key("civil", "resident", d["resident_id"])
        elif t == "city.case.reported":
            idx = "reporter" if path == "reporter" else path.split("[")[1].split("]")[0]
            rec = ref_key("city", "case-party", f"{d['case_id']}/{idx}")
        elif t == "police.incident.reported":
            rec = ref_key("police", "incident-party", f"{d['incident_id']}/caller")
        elif t == "police.person.involved":
            rid, kind = (
                (d["case_id"], "case-party")
                if d.get("case_id")
                else (d["incident_id"], "incident-party")
            )
            rec = ref_key("police", kind, f"{rid}/{d['role']}/{e['id']}")
        elif t == "court.case.filed":
            idx = path.split("[")[1].split("]")[0]
            rec = ref_key("court", "case-party", f"{d['case_id']}/{idx}")
        if rec:
            out[rec] = tp
    return out


def case_record(e: dict[str, Any]) -> str | None:
    d, t = e["data"], e["type"]
    if t.startswith("city.case."):
        return hub_id("C", ref_key("city", "case", d["case_id"]))
    if t.startswith("police.incident."):
        return hub_id("C", ref_key("police", "incident", d["incident_id"]))
    if t.startswith("police."):
        key = ("case", d["case_id"]) if d.get("case_id") else ("incident", d["incident_id"])
        return hub_id("C", ref_key("police", *key))
    if t.startswith("court."):
        return hub_id("C", ref_key("court", "case", d["case_id"]))
    return None


async def apply_city(
    settings: Settings,
    dsn: str,
    emitted: list[Emitted],
    consumer: str = "bench",
    batch: int = 2000,
    coordination: bool = True,
) -> dict[str, Any]:
    pool = await create_pool(dsn, max_size=2, custom_plans=True)  # as the projector
    store = Store(
        pool,
        consumer,
        settings.agencies,
        load_model(),
        rules=load_rules() if coordination else None,
    )
    pending: list[Decision] = []
    offsets: dict[tuple[str, int], int] = {}

    async def sink(ds: Sequence[Decision]) -> None:
        pending.extend(ds)

    def records(events: list[Emitted]) -> list[InboundRecord]:
        out = []
        for e in events:
            tp = (f"agency.{e.event['agency']}", hash(e.event["subject"]) % 4)
            o = offsets.get(tp, 0)
            offsets[tp] = o + 1
            out.append(
                InboundRecord(tp[0], tp[1], o, e.event["subject"].encode(), orjson.dumps(e.event))
            )
        return out

    def decision_records() -> list[InboundRecord]:
        out = []
        for d in pending:
            o = offsets.get((RESOLUTION, 0), 0)
            offsets[(RESOLUTION, 0)] = o + 1
            out.append(InboundRecord(RESOLUTION, 0, o, d.a.encode(), orjson.dumps(d.event())))
        pending.clear()
        return out

    t0 = time.perf_counter()
    decided = 0
    for i in range(0, len(emitted), batch):
        res = await store.apply_batch(
            decision_records() + records(emitted[i : i + batch]), decisions=sink
        )
        decided += res.decisions
    while pending:
        await store.apply_batch(decision_records(), decisions=sink)
    seconds = time.perf_counter() - t0
    stats = {"events": len(emitted), "seconds": seconds, "decisions": decided}
    stats["actions"] = dict(
        Counter(r["action"] for r in await pool.fetch("SELECT action FROM resolution_decision"))
    )
    await pool.close()
    return stats


async def measure(dsn: str, emitted: list[Emitted]) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        truth_person: dict[str, str] = {}
        truth_place: dict[str, str] = {}
        pred_place: dict[str, str] = {}
        truth_matter: dict[str, str] = {}
        for e in emitted:
            truth_person.update(person_records(e.event, e.truth))
            addr = e.event["data"].get("address")
            if addr and "address" in e.truth.get("places", {}):
                truth_place[e.event["id"]] = e.truth["places"]["address"]
                pred_place[e.event["id"]] = hub_id(
                    "PL", parse_address(addr["text"], addr.get("grid")).key()
                )
            cr = case_record(e.event)
            if cr and e.truth.get("matter"):
                truth_matter[cr] = e.truth["matter"]
        # each address's place as the reads answer it (a room written alone is its grid's
        # full address: projections.reads.places.as_one_place)
        one = await as_one_place(conn, sorted(set(pred_place.values())))
        pred_place = {k: one[v][0] for k, v in pred_place.items()}
        comps = await components(conn, list(truth_person))
        pred_person = {r: canonical_node(nodes) for r, nodes in comps.items()}
        tcomps = await components(conn, list(truth_matter), "case_edge")
        pred_thread = {c: min(nodes) for c, nodes in tcomps.items()}
        return {
            "counts": (len(set(pred_person.values())), len(set(truth_person.values()))),
            "persons": pairwise(pred_person, truth_person),
            "places": pairwise(pred_place, truth_place),
            "threads": pairwise(pred_thread, truth_matter),
        }
    finally:
        await conn.close()


def _city(generator: str, n: int, noise: float, seed: int, late: float = 0.0) -> list[Emitted]:
    if generator == "town":
        from bench.town import generate

        return [
            Emitted(datetime.fromisoformat(e["time"]), e, t) for e, t in generate(n, noise, seed)
        ]
    return simulate(SimConfig(seed=seed, events=n, noise=noise, late=late))


async def main(
    n: int,
    noises: list[float],
    generator: str = "sim",
    seed: int = 1,
    splink: bool = False,
    late: float = 0.0,
) -> None:
    with stack() as s:
        print(header("quality"))
        what = (
            f"bench/town.py, {n} people"
            if generator == "town"
            else f"simulated city, about {n:,} events"
        )
        print(f"{what} per level, seed {seed}" + (f", {late:.0%} published late" if late else ""))
        print(
            f"{'noise':>6} | {'persons P / R / F1':>22} | {'places P / R / F1':>22} | "
            f"{'threads P / R / F1':>22} | persons found / true | decisions (links/candidates)"
            " | events/s"
        )
        for noise in noises:
            dsn = await fresh_db(s, f"quality_{generator}_{int(noise * 100)}")
            emitted = _city(generator, n, noise, seed, late)
            stats = await apply_city(s, dsn, emitted)
            q = await measure(dsn, emitted)

            def fmt(t: tuple[float, float, float]) -> str:
                return f"{t[0]:.4f} / {t[1]:.4f} / {t[2]:.4f}"

            acts = stats["actions"]
            found, true = q["counts"]
            print(
                f"{noise:6.0%} | {fmt(q['persons']):>22} | {fmt(q['places']):>22} | "
                f"{fmt(q['threads']):>22} | {found:>7} / {true:<7}  | {acts.get('link', 0):>8} / "
                f"{acts.get('candidate', 0):<8} | {stats['events'] / stats['seconds']:,.0f}",
                flush=True,
            )
            if splink:
                from bench import splink_baseline

                truth = {}
                for e in emitted:
                    truth.update(person_records(e.event, e.truth))
                theirs = splink_baseline.persons(await splink_baseline.mentions(dsn))
                sp = pairwise({r: theirs.get(r, r) for r in truth}, truth)
                print(
                    f"{'':6} | Splink, same records: {fmt(sp)} "
                    f"({len(set(theirs.get(r, r) for r in truth))} persons)",
                    flush=True,
                )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--events",
        type=int,
        default=40_000,
        help="events of the simulated city, or people of the town",
    )
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    ap.add_argument(
        "--generator",
        choices=("sim", "town"),
        default="sim",
        help="the hub's simulator, or bench/town.py (written apart from it)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--splink",
        action="store_true",
        help="also Splink on the same records (needs the bench extra)",
    )
    ap.add_argument(
        "--late",
        type=float,
        default=0.0,
        help="simulator: share of agency records published up to 48 h late, out of order",
    )
    a = ap.parse_args()
    asyncio.run(main(a.events, a.noise, a.generator, a.seed, a.splink, a.late))
