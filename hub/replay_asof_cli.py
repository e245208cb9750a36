"""``civic-hub replay person|case|place ID --known-at T [--happened-by T]`` and ``… diff``:
the dossier as the hub knew it at an instant, through the API like the page (one policy
point, audited under the investigator's token, purpose and case reference); joins the
``replay`` command of :mod:`hub.replay_cli` as an extension."""

from __future__ import annotations

import argparse
import asyncio
import urllib.parse
from pathlib import Path

import orjson

from hub.config import ConfigError, Settings
from hub.progress import progress
from hub.replay_cli import call, client_arguments, emit, instant

KINDS = {"person": "persons", "case": "cases", "place": "places"}


def add(rsub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for kind in KINDS:
        p = rsub.add_parser(kind, help=f"the {kind} as the hub knew it at an instant")
        p.add_argument("id", help=f"the {kind}'s hub id (any id it was known by)")
        p.add_argument(
            "--known-at", type=instant, help="the instant, RFC 3339 with offset (default now)"
        )
        p.add_argument(
            "--happened-by", type=instant, help="only what agencies say happened by then"
        )
        p.add_argument(
            "--diff-to",
            type=instant,
            help="instead: what changed from --known-at to this instant, field by field",
        )
        p.add_argument("-o", "--out", type=Path, help="write to this file (default: stdout)")
        client_arguments(p)
        p.set_defaults(handler=replay_read, kind=kind)


async def replay_read(settings: Settings, args: argparse.Namespace) -> int:
    base = f"/v1/replay/{KINDS[args.kind]}/{urllib.parse.quote(args.id, safe='')}"
    if args.diff_to:
        if args.kind == "place":
            raise ConfigError("a diff is for persons and cases")
        if not args.known_at:
            raise ConfigError("--diff-to needs --known-at (the earlier instant)")
        query = {"from": args.known_at, "to": args.diff_to}
        path = f"{base}/diff?{urllib.parse.urlencode(query)}"
    else:
        query = {
            k: v for k, v in (("known_at", args.known_at), ("happened_by", args.happened_by)) if v
        }
        path = base + (f"?{urllib.parse.urlencode(query)}" if query else "")
    with progress(f"asking the hub for the {args.kind} as it knew it", None):
        raw = await asyncio.to_thread(call, settings, args, "GET", path)
    emit(orjson.dumps(orjson.loads(raw), option=orjson.OPT_INDENT_2) + b"\n", args.out)
    return 0
