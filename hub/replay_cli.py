"""``civic-hub replay …``: the investigation commands (contract section 8).

``chronology`` and ``export`` ask the hub's API, like the page does, so every replay is
decided by the one policy point and audited under the investigator's own token, purpose
and case reference; ``verify`` needs nothing but the file.

More subcommands join the same ``replay`` command without an import back into this module:
a function that takes the ``replay`` subparsers, adds its parsers and gives each a
``handler`` (``p.set_defaults(handler=run)``, ``async def run(settings, args) -> int``),
passed to :func:`add_parser` by ``hub/cli.py`` (``replay_cli.add_parser(sub, asof_cli.add)``);
:func:`client_arguments` gives a parser the API, token, purpose and case reference."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub import bundle_verify, report_cli
from hub.api_call import api_call
from hub.config import ConfigError, Settings
from hub.progress import progress

Handler = Callable[[Settings, argparse.Namespace], Awaitable[int]]
Extension = Callable[[argparse._SubParsersAction], None]  # type: ignore[type-arg]


def instant(raw: str) -> str:
    """An RFC 3339 instant with its offset, as the API takes it in a query."""
    return report_cli.instant(raw).isoformat()


def client_arguments(p: argparse.ArgumentParser) -> None:
    """How a replay command reaches the API and says who asks, why and for what."""
    p.add_argument(
        "--api",
        default=os.environ.get("HUB_API_URL"),
        help="the hub's API (default HUB_API_URL, else http://HUB_API_BIND)",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("HUB_TOKEN"),
        help="an investigator's or auditor's bearer token (default HUB_TOKEN)",
    )
    p.add_argument(
        "--purpose",
        default=os.environ.get("HUB_PURPOSE", "investigation"),
        help="X-Purpose: a purpose code, optionally '; text' (default investigation)",
    )
    p.add_argument(
        "--case-ref",
        default=os.environ.get("HUB_CASE_REF"),
        help="X-Case-Ref: the investigation's reference (default HUB_CASE_REF)",
    )


def subject_arguments(p: argparse.ArgumentParser, window_required: bool) -> None:
    p.add_argument("--person", action="append", default=[], help="a person id (repeatable)")
    p.add_argument("--case", action="append", default=[], help="a case id (repeatable)")
    p.add_argument("--place", action="append", default=[], help="a place id (repeatable)")
    p.add_argument(
        "--from",
        dest="start",
        type=instant,
        required=window_required,
        help="window start, RFC 3339 with offset (inclusive)",
    )
    p.add_argument(
        "--to",
        dest="end",
        type=instant,
        required=window_required,
        help="window end, RFC 3339 with offset (exclusive)",
    )


def add_parser(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    *extensions: Extension,
) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """The ``replay`` command and its subparsers (returned; each extension adds to them)."""
    p = sub.add_parser("replay", help="investigations: chronology, export, verify")
    rsub = p.add_subparsers(dest="action", required=True)
    c = rsub.add_parser("chronology", help="events, reads and notices about persons and cases")
    client_arguments(c)
    subject_arguments(c, window_required=False)
    fmt = c.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV instead of a table")
    fmt.add_argument("--html", action="store_true", help="a self-contained printable page")
    fmt.add_argument("--json", action="store_true", help="the API's JSON")
    c.add_argument("-o", "--out", type=Path, help="write to this file (default: stdout)")
    c.set_defaults(handler=chronology)
    e = rsub.add_parser("export", help="a bundle to file with an inquiry: checkable offline")
    client_arguments(e)
    subject_arguments(e, window_required=True)
    e.add_argument("-o", "--out", type=Path, required=True, help="the bundle file to write")
    e.set_defaults(handler=export)
    v = rsub.add_parser("verify", help="check a bundle offline; name what was altered")
    bundle_verify.add_arguments(v)
    v.set_defaults(handler=verify)
    for extend in extensions:
        extend(rsub)
    return rsub


def call(
    settings: Settings, args: argparse.Namespace, method: str, path: str, body: Any = None
) -> bytes:
    if not args.token:
        raise ConfigError("replay needs an investigator's or auditor's token: --token or HUB_TOKEN")
    if not args.case_ref:
        raise ConfigError("replay serves an investigation: --case-ref or HUB_CASE_REF")
    base = (args.api or f"http://{settings.api_bind}").rstrip("/")
    headers = {
        "Authorization": f"Bearer {args.token}",
        "X-Purpose": urllib.parse.quote(args.purpose, safe="; -"),
        "X-Case-Ref": urllib.parse.quote(args.case_ref, safe=""),
        "Content-Type": "application/json",
    }
    return api_call(base, method, path, headers, body)


def _subjects(args: argparse.Namespace) -> None:
    if not (args.person or args.case or args.place):
        raise ConfigError("name at least one --person, --case or --place")


def _table(answer: dict[str, Any]) -> str:
    lines = []
    for i in answer["items"]:
        when = i["happened_at"] + (" (date)" if i.get("precision") == "day" else "")
        lines.append(
            f"{when:32s} {i.get('known_at') or '-':32s} {i['agency']:7s} {i['kind']:6s}"
            f" {i['summary']}" + (f"  [{i['purpose']}]" if i.get("purpose") else "")
        )
    lines += ["", *(f"- {x}" for x in answer["limits"])]
    return "\n".join(lines)


def emit(text: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
    else:
        out.write_bytes(text)
        print(f"wrote {out}", file=sys.stderr)


async def chronology(settings: Settings, args: argparse.Namespace) -> int:
    _subjects(args)
    fmt = "csv" if args.csv else "html" if args.html else "json"
    query = [("person", x) for x in args.person] + [("case", x) for x in args.case]
    query += [("place", x) for x in args.place] + [("format", fmt)]
    query += [(k, v) for k, v in (("from", args.start), ("to", args.end)) if v]
    path = "/v1/replay/chronology?" + urllib.parse.urlencode(query)
    with progress("asking the hub for the chronology", None):
        raw = await asyncio.to_thread(call, settings, args, "GET", path)
    if fmt == "json" and not args.json:
        raw = (_table(orjson.loads(raw)) + "\n").encode()
    emit(raw, args.out)
    return 0


async def export(settings: Settings, args: argparse.Namespace) -> int:
    _subjects(args)
    body = {
        "persons": args.person,
        "cases": args.case,
        "places": args.place,
        "from": args.start,
        "to": args.end,
    }
    t0 = time.perf_counter()
    with progress("the hub is building the bundle (events, audit, proofs)", None):
        raw = await asyncio.to_thread(call, settings, args, "POST", "/v1/replay/exports", body)
    args.out.write_bytes(raw)
    bundle = orjson.loads(raw)
    print(
        f"wrote {args.out} ({len(raw) / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s):"
        f" {len(bundle['chronology']['items']):,} chronology items, {len(bundle['events']):,}"
        f" events, {len(bundle['audit']):,} audit rows,"
        f" {len(bundle['proofs']['segments']):,} chain segments"
    )
    return 0


def verify_file(path: Path, public_key: Path | None = None) -> bundle_verify.Verdict:
    """The offline check, with progress over the chain rows it relinks."""
    if not path.exists():
        raise ConfigError(f"{path} does not exist")
    published = None
    if public_key is not None:
        key = serialization.load_pem_public_key(public_key.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"{public_key}: not an Ed25519 public key")
        published = key
    try:
        bundle = bundle_verify.load(path)
    except orjson.JSONDecodeError as exc:
        return bundle_verify.Verdict(problems=[f"{path} is not JSON: {exc}"])
    segments = (
        (bundle.get("proofs") or {}).get("segments") or [] if isinstance(bundle, dict) else []
    )
    total = sum(len(s.get("digests") or []) for s in segments if isinstance(s, dict))
    with progress(f"verifying {path.name}", total) as advance:
        return bundle_verify.verify_bundle(bundle, published, advance)


async def verify(settings: Settings, args: argparse.Namespace) -> int:
    return bundle_verify.report(verify_file(args.file, args.public_key))


async def run(settings: Settings, args: argparse.Namespace) -> int:
    handler: Handler = args.handler
    return await handler(settings, args)
