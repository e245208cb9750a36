"""``civic-hub report kpi --from … --to … [--by grid|agency|street] [--json]``: the KPI
report of ``GET /v1/reports/kpi``, computed from the event archive of the configured hub."""

from __future__ import annotations

import argparse
from datetime import datetime

import orjson

from hub.bootstrap import coordination_rules, new_pool
from hub.config import ConfigError, Settings
from projections.reads import kpi as kpi_reads

COLUMNS = (
    ("received", "received"),
    ("responded_on_time", "on time"),
    ("solved", "solved"),
    ("closed_on_time", "closed on time"),
    ("satisfied", "satisfied"),
    ("rework", "rework"),
    ("extended", "extended"),
    ("bounced", "bounced"),
    ("lowest_level_share", "lowest level"),
)


def instant(raw: str) -> datetime:
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 instant: {raw!r}") from None
    if t.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"needs an offset (e.g. +08:00): {raw!r}")
    return t


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="reports from the event archive: kpi")
    rsub = p.add_subparsers(dest="action", required=True)
    k = rsub.add_parser("kpi", help="per grid, agency or street over a window (see the API docs)")
    k.add_argument("--from", dest="start", type=instant, required=True, help="window start")
    k.add_argument("--to", dest="end", type=instant, required=True, help="window end (excl.)")
    k.add_argument("--by", choices=kpi_reads.KEYS, default="grid")
    k.add_argument("--json", action="store_true", help="the API's JSON instead of a table")


def table(report: dict[str, object]) -> str:
    items = [*report["items"], report["total"]]  # type: ignore[misc]
    head = [str(report["by"]), *(label for _, label in COLUMNS)]
    rows = [
        [str(i["key"]), *("-" if i[k] is None else str(i[k]) for k, _ in COLUMNS)] for i in items
    ]
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in [head, *rows]
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    if not args.start < args.end:
        raise ConfigError("--from must be before --to")
    pool = await new_pool(settings, "client")
    try:
        report = await kpi_reads.kpi(
            pool, coordination_rules(settings), args.start, args.end, args.by
        )
    finally:
        await pool.close()
    if args.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        print(table(report))
    return 0
