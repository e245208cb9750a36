"""What strict JSON (no duplicate keys, no integer beyond int64) costs the intake per event.

    .venv/bin/python -m bench.strict_json

On simulated events: the whole intake check per event (:func:`projections.intake.check`),
the cheap test every event pays (:func:`schemas.strictjson.needs_exact`), and the exact
reading only flagged text pays (:func:`schemas.strictjson.exact_loads`). Best of 7 runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from hub.sim import story
from projections.intake import InboundRecord, check
from schemas.strictjson import exact_loads, needs_exact

AGENCIES = ("police", "city", "civil", "court")


def best(f: Callable[[], object], n: int, runs: int = 7) -> float:
    out = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        f()
        out = min(out, (time.perf_counter() - t) / n)
    return out * 1e6


def main() -> None:
    events = story.bulk(seed=3, n_residents=300, n_cases=300, prefix="b")
    raws = [orjson.dumps(e) for e in events]
    docs = [orjson.loads(r) for r in raws]
    recs = [
        InboundRecord(f"agency.{e['agency']}", 0, i, None, r)
        for i, (e, r) in enumerate(zip(events, raws, strict=True))
    ]
    n = len(raws)
    flagged = sum(needs_exact(r, d) for r, d in zip(raws, docs, strict=True))
    print(f"{n} events, {sum(map(len, raws)) / n:.0f} bytes on average, {flagged} flagged")
    print(f"intake check      {best(lambda: [check(r, AGENCIES) for r in recs], n):6.2f} µs")
    print(
        "needs_exact       "
        f"{best(lambda: [needs_exact(r, d) for r, d in zip(raws, docs, strict=True)], n):6.2f} µs"
    )
    print(f"orjson.loads      {best(lambda: [orjson.loads(r) for r in raws], n):6.2f} µs")
    print(f"exact_loads       {best(lambda: [exact_loads(r) for r in raws], n):6.2f} µs")


if __name__ == "__main__":
    main()
