"""``civic-hub report kpi --from … --to … [--by grid|agency|street] [--json]``: the KPI
report of ``GET /v1/reports/kpi``, under the rules the hub runs.

With a token (``--token`` or ``HUB_TOKEN``: a command-center, investigator or auditor
token) the command asks the running hub's API, like the page and ``civic-hub replay``: the
answer is the API's, under the rules the API loaded (``HUB_RULES`` of the hub), and the
read is audited like any. Without one it computes the report from the event archive
itself, under this command's rules (``HUB_RULES``, else the shipped default), and first
checks them against the rules the hub's workers record in the database (``kpi_fold``):
when they differ it stops and says so, instead of reporting other counts than the API.
Both forms name the rules (id and version) they were computed under."""

from __future__ import annotations

import argparse
import os
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

import orjson

from hub.api_call import api_call
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
    k.add_argument(
        "--api",
        default=os.environ.get("HUB_API_URL"),
        help="the hub's API (default HUB_API_URL, else the API of a `civic-hub up` running "
        "in this folder, else http://HUB_API_BIND)",
    )
    k.add_argument(
        "--token",
        default=os.environ.get("HUB_TOKEN"),
        help="a command-center, investigator or auditor token (default HUB_TOKEN): ask the "
        "hub's API; without one, compute from the archive under this command's rules",
    )


def rules_line(report: dict[str, Any]) -> str:
    rule = report.get("rule") or {}
    return f"rules: {rule.get('id')} v{rule.get('version')}"


def table(report: dict[str, Any]) -> str:
    items = [*report["items"], report["total"]]
    head = [str(report["by"]), *(label for _, label in COLUMNS)]
    rows = [
        [str(i["key"]), *("-" if i[k] is None else str(i[k]) for k, _ in COLUMNS)] for i in items
    ]
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    return "\n".join([rules_line(report), *lines])


def api_base(settings: Settings, args: argparse.Namespace) -> str:
    """Where the hub's API is: --api / HUB_API_URL, else the API of the `civic-hub up`
    running in this folder, else HUB_API_BIND."""
    if args.api:
        return str(args.api).rstrip("/")
    from hub.runtime import read_stack_file

    info = read_stack_file(settings.data_dir) or {}
    return f"http://{info.get('api') or settings.api_bind}"


def ask_api(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    base = api_base(settings, args)
    query = urllib.parse.urlencode(
        {"from": args.start.isoformat(), "to": args.end.isoformat(), "by": args.by}
    )
    headers = {"Authorization": f"Bearer {args.token}"}
    if os.environ.get("HUB_PURPOSE"):  # a report needs none; one given must be a known code
        headers["X-Purpose"] = urllib.parse.quote(os.environ["HUB_PURPOSE"], safe="; -")
    answer: dict[str, Any] = orjson.loads(
        api_call(base, "GET", f"/v1/reports/kpi?{query}", headers, name="GET /v1/reports/kpi")
    )
    return answer


async def from_archive(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """The report computed here, under this command's rules, once they are the rules the
    hub's workers judge under (as they record them in ``kpi_fold``)."""
    rules = coordination_rules(settings)
    pool = await new_pool(settings, "client")
    try:
        hub = await pool.fetchrow("SELECT rule_id, rule_version FROM kpi_fold")
        if hub is not None and hub["rule_id"] is not None:
            if (hub["rule_id"], hub["rule_version"]) != (rules.id, rules.version):
                raise ConfigError(
                    f"the hub runs the rules {hub['rule_id']} v{hub['rule_version']}, this "
                    f"command has {rules.id} v{rules.version} (HUB_RULES"
                    + (f" = {settings.rules_path}" if settings.rules_path else " not set")
                    + "): the counts would differ from the API's. Pass --token (or HUB_TOKEN) "
                    "to ask the hub's API, or set HUB_RULES to the hub's rules file."
                )
        return await kpi_reads.kpi(pool, rules, args.start, args.end, args.by)
    finally:
        await pool.close()


async def run(settings: Settings, args: argparse.Namespace) -> int:
    if not args.start < args.end:
        raise ConfigError("--from must be before --to")
    if args.token:
        report = ask_api(settings, args)
    else:
        report = await from_archive(settings, args)
    if args.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        print(table(report))
    return 0
