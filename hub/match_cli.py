"""``civic-hub match train``: Fellegi–Sunter weights estimated from this deployment's own
records, written to a file that ``HUB_MATCH_MODEL`` names for the workers."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import orjson

from hub.bootstrap import new_pool
from hub.config import Settings
from projections.matching import DEFAULT, load_model
from projections.person_match import train_from_mentions


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("match", help="the person matcher's weights: train them on this data")
    msub = p.add_subparsers(dest="action", required=True)
    t = msub.add_parser(
        "train",
        help="estimate the weights from the read model's records "
        "(EM) and write them for HUB_MATCH_MODEL",
    )
    t.add_argument("--out", type=Path, required=True, help="file to write the model to")
    t.add_argument(
        "--limit",
        type=int,
        default=50_000,
        help="records to learn from (the first ones by id: the same every run)",
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    pool = await new_pool(settings, "client")
    try:
        async with pool.acquire() as conn:
            model, n_blocked, n_random = await train_from_mentions(
                conn, args.limit, load_model(settings.match_model_path)
            )
    finally:
        await pool.close()
    print(f"trained {model.version} on {n_blocked:,} blocked and {n_random:,} unblocked pairs")
    print(f"{'field':12} {'level':8} {'m':>8} {'u':>10} {'weight':>7}")
    for field, levels in model.m.items():
        for level, m in levels.items():
            u = model.u[field][level]
            print(f"{field:12} {level:8} {m:8.4f} {u:10.2e} {math.log2(m / u):7.1f}")
    args.out.write_bytes(orjson.dumps(model.to_dict(), option=orjson.OPT_INDENT_2))
    print(
        f"written to {args.out}; set HUB_MATCH_MODEL={args.out} for the workers"
        f" (starting values were {DEFAULT.version})"
    )
    return 0
