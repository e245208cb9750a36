"""Trains the match model shipped with the hub (projections/match_model.json): the simulated
city (seed 1, 40,000 events, 10 % noise) applied through the store, then Fellegi–Sunter
weights estimated from its records by EM, as `civic-hub match train` does on a deployment.

    .venv/bin/python -m bench.train_model [--events 40000] [--noise 0.1]
"""

from __future__ import annotations

import argparse
import asyncio

import asyncpg
import orjson

from bench.common import stack
from bench.quality import apply_city
from hub.sim.city import SimConfig, simulate
from projections.db import migrate
from projections.matching import DEFAULT, SHIPPED
from projections.person_match import train_from_mentions


async def main(events: int, noise: float) -> None:
    with stack() as s:
        dsn = s.require_database()
        await migrate(dsn)
        await apply_city(s, dsn, simulate(SimConfig(seed=1, events=events, noise=noise)))
        conn = await asyncpg.connect(dsn)
        try:
            model, blocked, random_pairs = await train_from_mentions(conn, start=DEFAULT)
        finally:
            await conn.close()
    SHIPPED.write_bytes(orjson.dumps(model.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    print(f"{model.version}: {blocked:,} blocked and {random_pairs:,} unblocked pairs → {SHIPPED}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--noise", type=float, default=0.1)
    a = ap.parse_args()
    asyncio.run(main(a.events, a.noise))
