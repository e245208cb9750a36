"""``civic-hub``: the one console command (../shared/CONTRACT.md section 6)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import structlog

from hub import audit_verify, logs, match_cli, replay_asof_cli, replay_cli, report_cli
from hub.bootstrap import IdempotenceRefused
from hub.config import ConfigError, Settings, load_settings
from hub.devstack import StackError
from hub.progress import progress
from hub.publish import as_records, publish_file, publish_records
from hub.runtime import LogMismatch
from hub.up import up

log = structlog.get_logger("hub.cli")


async def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from hub.sim import city as simulator

    with progress(
        f"simulating about {args.events:,} events (seed {args.seed}, noise {args.noise:.0%})", None
    ):
        emitted = await asyncio.to_thread(
            simulator.simulate,
            simulator.SimConfig(
                seed=args.seed, events=args.events, noise=args.noise, late=args.late
            ),
        )
    out = args.out or (settings.data_dir / "simulation")
    out.mkdir(parents=True, exist_ok=True)
    with progress("writing events and ground truth", len(emitted)) as advance:
        simulator.write_jsonl(emitted, str(out / "events.jsonl"), str(out / "truth.jsonl"), advance)
    print(
        f"wrote {len(emitted):,} events to {out / 'events.jsonl'} and the ground truth to"
        f" {out / 'truth.jsonl'}",
        flush=True,
    )
    if args.publish:
        n = await publish_records(
            _settings_for_client(settings), as_records([e.event for e in emitted]), rate=args.rate
        )
        print(f"published {n:,} events", flush=True)
    return 0


def _settings_for_client(settings: Settings) -> Settings:
    """A client command (publish, deadletter) talks to the configured services, or to the
    embedded ones a local `civic-hub up` is running."""
    if settings.kafka_bootstrap and settings.database_url:
        return settings
    from hub.runtime import read_stack_file

    info = read_stack_file(settings.data_dir)
    if not info:
        raise ConfigError(
            "no hub to talk to: set HUB_KAFKA_BOOTSTRAP and HUB_DATABASE_URL, "
            "or start `civic-hub up` in this folder first"
        )
    embedded = bool(info.get("embedded_broker")) and not settings.kafka_bootstrap
    return settings.__class__(
        **{
            **settings.__dict__,
            "kafka_bootstrap": settings.kafka_bootstrap or info["kafka_bootstrap"],
            "database_url": settings.database_url or info["database_url"],
            "embedded_broker": embedded,
            "producer_idempotence": settings.producer_idempotence and not embedded,
        }
    )


async def _rebuild(settings: Settings, args: argparse.Namespace) -> int:
    import asyncpg

    from hub.rebuild import rebuild

    with progress(f"rebuilding into schema {args.schema!r}") as advance:
        seen = [0]

        def rebuilt(n: int) -> None:  # the rebuild reports its running total
            advance(n - seen[0])
            seen[0] = n

        report = await rebuild(settings, args.schema, args.verify, rebuilt)
    rate = report.events / report.seconds if report.seconds else 0
    print(
        f"rebuilt {report.events:,} records into schema {report.schema!r} in "
        f"{report.seconds:.1f}s ({rate:,.0f}/s)"
    )
    if args.verify:
        if report.equal:
            print("verified: the live read model equals the rebuild, table by table")
        for table, (missing, extra) in sorted(report.differences.items()):
            print(
                f"DIFFERS {table}: {missing} row(s) only in the live model, "
                f"{extra} only in the rebuild"
            )
    if not args.keep:
        conn = await asyncpg.connect(settings.require_database())
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{args.schema}" CASCADE')
        finally:
            await conn.close()
    return 0 if report.equal else 1


async def _deadletter(settings: Settings, args: argparse.Namespace) -> int:
    from hub import deadletters
    from hub.bootstrap import new_pool

    pool = await new_pool(settings, "client")
    try:
        if args.action == "list":
            counts = await deadletters.summary(pool)
            if not counts:
                print("no rejected records")
            for s in counts:
                print(f"{s['reason']:24s} {s['n']:8d} rejected  {s['retried']:8d} retried")
            print()
            for r in await deadletters.list_rows(pool, args.reason, args.limit, args.all):
                where = f"{r['topic']}/{r['partition']}@{r['offset']}"
                retried = f"  (retried {r['retried_at']:%Y-%m-%d %H:%M})" if r["retried_at"] else ""
                print(
                    f"{where:28s} {r['reason']:20s} {r['field'] or '-':24s} "
                    f"event {r['event_id'] or '-'}{retried}\n    {r['detail']}"
                )
            return 0
        report = await deadletters.retry(pool, settings, args.reason, args.dry_run)
        verb = "would send" if args.dry_run else "sent"
        print(f"{verb} {report.resent} record(s) again")
        for reason, n in sorted(report.still_rejected.items()):
            print(f"still rejected: {n} x {reason}")
        return 0
    finally:
        await pool.close()


def _run(coro: Any) -> Any:
    """uvloop when it is installed (it is a dependency): faster HTTP and Kafka I/O."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="civic-hub", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run the whole hub on this machine")
    sub.add_parser("demo", help="`up` plus a scripted city feeding the agencies")
    p_pub = sub.add_parser("publish", help="send CloudEvents from a JSON-lines file")
    p_pub.add_argument("file", type=Path)
    sub.add_parser("migrate", help="apply the read model's SQL migrations and exit")
    p_rb = sub.add_parser(
        "rebuild",
        help="rebuild the read model from the log into a fresh "
        "schema; --verify compares it with the live one table by table",
    )
    p_rb.add_argument("--verify", action="store_true")
    p_rb.add_argument("--schema", default="rebuild", help="schema to rebuild into (dropped first)")
    p_rb.add_argument("--keep", action="store_true", help="keep the rebuilt schema afterwards")
    p_sim = sub.add_parser("simulate", help="a simulated city: events and ground truth")
    p_sim.add_argument("--seed", type=int, default=1)
    p_sim.add_argument("--events", type=int, default=100_000, help="about this many events")
    p_sim.add_argument(
        "--noise", type=float, default=0.1, help="share of records with agency-style noise (0-1)"
    )
    p_sim.add_argument(
        "--late",
        type=float,
        default=0.0,
        help="share of agency records published up to 48 h late, out of event-time order (0-1)",
    )
    p_sim.add_argument("--out", type=Path, help="folder for events.jsonl and truth.jsonl")
    p_sim.add_argument("--publish", action="store_true", help="also send them to the hub")
    p_sim.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="events/s when publishing (default: as fast as possible)",
    )
    p_dl = sub.add_parser("deadletter", help="records the intake rejected: list, retry")
    dl_sub = p_dl.add_subparsers(dest="action", required=True)
    p_list = dl_sub.add_parser("list", help="what was rejected and why")
    p_list.add_argument("--reason", help="only this reason (e.g. invalid-data)")
    p_list.add_argument("--limit", type=int, default=50)
    p_list.add_argument("--all", action="store_true", help="include records already retried")
    p_retry = dl_sub.add_parser("retry", help="send again the records that now pass")
    p_retry.add_argument("--reason", help="only records rejected for this reason")
    p_retry.add_argument("--dry-run", action="store_true", help="say what would be sent")
    match_cli.add_parser(sub)
    report_cli.add_parser(sub)
    audit_verify.add_parser(sub)
    replay_cli.add_parser(sub, replay_asof_cli.add)
    args = parser.parse_args(argv)
    logs.configure(process=f"civic-hub {args.command}")
    try:
        settings = load_settings()
        if args.command in ("up", "demo"):
            return _run(up(settings, demo=args.command == "demo"))
        if args.command == "publish":
            if not args.file.exists():
                raise ConfigError(f"{args.file} does not exist")
            return asyncio.run(publish_file(_settings_for_client(settings), args.file))
        if args.command == "simulate":
            if not 0 <= args.noise <= 1 or args.events < 1 or args.rate < 0:
                raise ConfigError("--noise must be 0..1, --events ≥ 1, --rate ≥ 0")
            return _run(_simulate(settings, args))
        if args.command == "rebuild":
            return _run(_rebuild(_settings_for_client(settings), args))
        if args.command == "deadletter":
            return _run(_deadletter(_settings_for_client(settings), args))
        if args.command == "audit" and args.action == "public-key":  # the key file only
            return audit_verify.print_public_key(settings, args.out)
        if args.command == "audit":
            return _run(audit_verify.run(_settings_for_client(settings), args))
        if args.command == "match":
            return _run(match_cli.run(_settings_for_client(settings), args))
        if args.command == "replay":  # verify is offline: no hub to find
            return _run(replay_cli.run(settings, args))
        if args.command == "report":
            # with a token it asks the hub's API; without, it reads the hub's database
            client = settings if args.token else _settings_for_client(settings)
            return _run(report_cli.run(client, args))
        if args.command == "migrate":
            from hub.audit_seal import seal_unchained
            from projections.db import migrate

            applied = asyncio.run(migrate(settings.require_database()))
            asyncio.run(seal_unchained(settings.require_database()))
            print("applied: " + (", ".join(applied) or "nothing (up to date)"))
            return 0
    except (ConfigError, ValueError, LogMismatch, StackError, IdempotenceRefused) as exc:
        print(f"civic-hub: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
