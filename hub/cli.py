"""``civic-hub``: the one console command (contract section 6)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import structlog

from hub import logs, match_cli
from hub.config import ConfigError, Settings, load_settings
from hub.devstack import StackError
from hub.runtime import LogMismatch
from schemas.topics import agency_topic

log = structlog.get_logger("hub.cli")


def _banner(settings: Settings, tokens: dict[str, Any] | None, person_hint: str | None) -> str:
    base = f"http://{settings.api_bind}"
    lines = [
        "",
        "Civic Hub is up.",
        f"  command center {base}/   (paste the command-center token below)",
        f"  query API      {base}/v1/…   (OpenAPI: {base}/openapi.json, docs: {base}/docs)",
        f"  health         {base}/healthz    metrics: {base}/metrics",
        f"  Kafka          {settings.kafka_bootstrap}"
        + ("  (embedded Tansu, memory only)" if settings.embedded_broker else ""),
        f"  PostgreSQL     {settings.database_url}",
        f"  data, logs     {settings.data_dir}",
    ]
    if tokens:
        lines.append("  tokens         " + str(settings.tokens_path))
        for token, p in tokens.items():
            lines.append(f"    {p.role:15s} {p.user:22s} {token}")
        cc = next((t for t, p in tokens.items() if p.role == "command-center"), None)
        if cc:
            example = (f"curl -s -H 'Authorization: Bearer {cc}' -H 'X-Purpose: duty-watch' "
                       f"'{base}/v1/persons?national_id={person_hint}'" if person_hint else
                       f"curl -s -H 'Authorization: Bearer {cc}' -H 'X-Purpose: duty-watch' "
                       f"'{base}/v1/persons?name=…'")
            lines += ["", "Try:", "  " + example,
                      f"  or open {base}/?token={cc}  (the page drops it from the address)"]
    lines += ["", "Ctrl-C stops everything.", ""]
    return "\n".join(lines)


async def _up(settings: Settings, demo: bool) -> int:
    import uvicorn

    from hub.api.app import create_app
    from hub.runtime import Hub
    from hub.tokens import TokenBook, write_demo_tokens

    hub = Hub(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        settings = await hub.start_infra()
        demo_tokens = None
        if settings.tokens_path is None:
            path = settings.data_dir / "tokens.toml"
            demo_tokens = write_demo_tokens(path)
            settings = settings.__class__(**{**settings.__dict__, "tokens_path": path})
            hub.settings = settings
        tokens = TokenBook.load(settings.tokens_path, settings.agencies)  # type: ignore[arg-type]
        hub.worker_log = settings.data_dir / "workers.log"
        for _ in range(settings.workers):
            hub.spawn_worker()
        supervisor = asyncio.create_task(hub.supervise())
        app = create_app(settings, tokens)
        server = uvicorn.Server(uvicorn.Config(
            app, host=settings.api_host, port=settings.api_port, log_level="warning",
            lifespan="on", access_log=False, timeout_graceful_shutdown=2))
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                await serving
                log.error("api.failed_to_start", bind=settings.api_bind)
                return 1
            await asyncio.sleep(0.05)
        hint = None
        feeding = None
        if demo:
            from hub.sim import story

            # the story and the city end now, so the grid map shows cases still within time
            events = story.story(epoch=_now() - timedelta(days=10))
            hint = events[0]["data"]["person"]["national_id"]
            feeding = asyncio.create_task(_demo_feed(settings, events))
        print(_banner(settings, demo_tokens, hint), flush=True)
        await stop.wait()
        print("stopping…", file=sys.stderr, flush=True)
        if feeding:
            feeding.cancel()
        supervisor.cancel()
        server.should_exit = True
        await serving
        return 0
    finally:
        await asyncio.to_thread(hub.stop)


async def publish_records(settings: Settings, records: list[tuple[str, bytes, bytes]],
                          rate: float = 0.0, label: str = "published") -> int:
    """Send (topic, key, value) records with acks=all; at ``rate`` events/s when given, else
    as fast as the broker takes them. Progress goes to stderr on long runs."""
    from hub.bootstrap import start_producer

    producer = await start_producer(settings, "publisher")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    step = max(1, int(rate / 20)) if rate else 10_000
    report_every = max(step, len(records) // 20)
    try:
        pending = []
        for i, (topic, key, value) in enumerate(records, 1):
            pending.append(await producer.send(topic, value, key=key))
            if i % step == 0:
                for f in pending:
                    await f
                pending.clear()
                if rate:
                    delay = t0 + i / rate - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
            if i % report_every == 0 and len(records) > 50_000:
                print(f"  {label} {i:,}/{len(records):,} ({i / len(records):.0%}, "
                      f"{i / (loop.time() - t0):,.0f}/s)", file=sys.stderr, flush=True)
        for f in pending:
            await f
    finally:
        await producer.stop()
    return len(records)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _as_records(events: list[dict[str, Any]]) -> list[tuple[str, bytes, bytes]]:
    return [(agency_topic(e["agency"]), str(e["subject"]).encode(), orjson.dumps(e))
            for e in events]


async def _demo_feed(settings: Settings, story: list[dict[str, Any]]) -> None:
    """The scripted dispute at once, then a simulated city at a steady, watchable rate."""
    from hub.sim import city as simulator

    await publish_records(settings, _as_records(story))
    now = _now()
    city = await asyncio.to_thread(simulator.simulate, simulator.SimConfig(
        seed=1, events=20_000, start=now - timedelta(days=300)))
    city = [e for e in city if e.time <= now]  # what has happened by now, nothing after
    log.info("demo.city", events=len(city), rate=250)
    await publish_records(settings, _as_records([e.event for e in city]), rate=250,
                          label="demo city")
    log.info("demo.city.published", events=len(city))


def _read_jsonl(path: Path, agencies: tuple[str, ...]) -> Iterator[tuple[int, str, bytes, bytes]]:
    """Lines of a JSON-lines file as (line number, topic, key, value). Routing needs the
    ``agency`` attribute; everything else is the hub's intake's job to check."""
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc})") from None
            agency = doc.get("agency") if isinstance(doc, dict) else None
            if agency not in agencies:
                raise ValueError(f"{path}:{n}: 'agency' must be one of {', '.join(agencies)}")
            yield n, agency_topic(agency), str(doc.get("subject", "")).encode(), line


async def _publish_file(settings: Settings, path: Path) -> int:
    lines = list(_read_jsonl(path, settings.agencies))  # refuse the file before sending any
    n = await publish_records(settings, [(t, k, v) for _n, t, k, v in lines])
    print(f"published {n} events from {path}", flush=True)
    return 0


async def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from hub.sim import city as simulator

    t0 = time.monotonic()
    print(f"simulating a city of about {args.events:,} events (seed {args.seed}, "
          f"noise {args.noise:.0%})…", file=sys.stderr, flush=True)
    emitted = simulator.simulate(simulator.SimConfig(seed=args.seed, events=args.events,
                                                     noise=args.noise))
    print(f"  {len(emitted):,} events in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    out = args.out or (settings.data_dir / "simulation")
    out.mkdir(parents=True, exist_ok=True)
    simulator.write_jsonl(emitted, str(out / "events.jsonl"), str(out / "truth.jsonl"),
                          simulator.print_progress)
    print(f"wrote {out / 'events.jsonl'} and {out / 'truth.jsonl'} (ground truth)", flush=True)
    if args.publish:
        n = await publish_records(_settings_for_client(settings),
                                  _as_records([e.event for e in emitted]), rate=args.rate)
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
        raise ConfigError("no hub to talk to: set HUB_KAFKA_BOOTSTRAP and HUB_DATABASE_URL, "
                          "or start `civic-hub up` in this folder first")
    embedded = bool(info.get("embedded_broker")) and not settings.kafka_bootstrap
    return settings.__class__(**{
        **settings.__dict__,
        "kafka_bootstrap": settings.kafka_bootstrap or info["kafka_bootstrap"],
        "database_url": settings.database_url or info["database_url"],
        "embedded_broker": embedded,
        "producer_idempotence": settings.producer_idempotence and not embedded,
    })


async def _rebuild(settings: Settings, args: argparse.Namespace) -> int:
    import asyncpg

    from hub.rebuild import rebuild

    last = [0.0]

    def progress(n: int) -> None:
        if time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            print(f"  rebuilt {n:,} records", file=sys.stderr, flush=True)

    report = await rebuild(settings, args.schema, args.verify, progress)
    rate = report.events / report.seconds if report.seconds else 0
    print(f"rebuilt {report.events:,} records into schema {report.schema!r} in "
          f"{report.seconds:.1f}s ({rate:,.0f}/s)")
    if args.verify:
        if report.equal:
            print("verified: the live read model equals the rebuild, table by table")
        for table, (missing, extra) in sorted(report.differences.items()):
            print(f"DIFFERS {table}: {missing} row(s) only in the live model, "
                  f"{extra} only in the rebuild")
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
                print(f"{where:28s} {r['reason']:20s} {r['field'] or '-':24s} "
                      f"event {r['event_id'] or '-'}{retried}\n    {r['detail']}")
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
    p_rb = sub.add_parser("rebuild", help="rebuild the read model from the log into a fresh "
                          "schema; --verify compares it with the live one table by table")
    p_rb.add_argument("--verify", action="store_true")
    p_rb.add_argument("--schema", default="rebuild", help="schema to rebuild into (dropped first)")
    p_rb.add_argument("--keep", action="store_true", help="keep the rebuilt schema afterwards")
    p_sim = sub.add_parser("simulate", help="a simulated city: events and ground truth")
    p_sim.add_argument("--seed", type=int, default=1)
    p_sim.add_argument("--events", type=int, default=100_000, help="about this many events")
    p_sim.add_argument("--noise", type=float, default=0.1,
                       help="share of records with agency-style noise (0-1)")
    p_sim.add_argument("--out", type=Path, help="folder for events.jsonl and truth.jsonl")
    p_sim.add_argument("--publish", action="store_true", help="also send them to the hub")
    p_sim.add_argument("--rate", type=float, default=0.0,
                       help="events/s when publishing (default: as fast as possible)")
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
    args = parser.parse_args(argv)
    logs.configure(process=f"civic-hub {args.command}")
    try:
        settings = load_settings()
        if args.command in ("up", "demo"):
            return _run(_up(settings, demo=args.command == "demo"))
        if args.command == "publish":
            if not args.file.exists():
                raise ConfigError(f"{args.file} does not exist")
            return asyncio.run(_publish_file(_settings_for_client(settings), args.file))
        if args.command == "simulate":
            if not 0 <= args.noise <= 1 or args.events < 1 or args.rate < 0:
                raise ConfigError("--noise must be 0..1, --events ≥ 1, --rate ≥ 0")
            return _run(_simulate(settings, args))
        if args.command == "rebuild":
            return _run(_rebuild(_settings_for_client(settings), args))
        if args.command == "deadletter":
            return _run(_deadletter(_settings_for_client(settings), args))
        if args.command == "match":
            return _run(match_cli.run(_settings_for_client(settings), args))
        if args.command == "migrate":
            from projections.db import migrate

            applied = asyncio.run(migrate(settings.require_database()))
            print("applied: " + (", ".join(applied) or "nothing (up to date)"))
            return 0
    except (ConfigError, ValueError, LogMismatch, StackError) as exc:
        print(f"civic-hub: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
