"""``civic-hub up`` and ``demo``: the embedded stack (unless real services are
configured), the stream workers, the API; for the demo, a scripted dispute and a simulated
city published as they would happen, ending now."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from hub.bootstrap import start_producer
from hub.config import ConfigError, Settings, redact_url, require_tokens_for_real_services
from hub.publish import as_records, publish_records

log = structlog.get_logger("hub.up")


def banner(settings: Settings, tokens: dict[str, Any] | None, person_hint: str | None) -> str:
    base = f"http://{settings.api_bind}"
    lines = [
        "",
        "Civic Hub is up.",
        f"  command center {base}/   (paste the command-center token below)",
        f"  query API      {base}/v1/…   (OpenAPI: {base}/openapi.json, docs: {base}/docs)",
        f"  health         {base}/healthz    metrics: {base}/metrics",
        f"  Kafka          {settings.kafka_bootstrap}"
        + ("  (embedded Tansu, memory only)" if settings.embedded_broker else ""),
        f"  PostgreSQL     {redact_url(settings.database_url)}",
        f"  data, logs     {settings.data_dir}",
    ]
    if tokens:
        lines.append("  tokens         " + str(settings.tokens_path))
        for token, p in tokens.items():
            lines.append(f"    {p.role:15s} {p.user:22s} {token}")
        cc = next((t for t, p in tokens.items() if p.role == "command-center"), None)
        if cc:
            example = (
                f"curl -s -H 'Authorization: Bearer {cc}' -H 'X-Purpose: duty-watch' "
                f"'{base}/v1/persons?national_id={person_hint}'"
                if person_hint
                else f"curl -s -H 'Authorization: Bearer {cc}' -H 'X-Purpose: duty-watch' "
                f"'{base}/v1/persons?name=…'"
            )
            lines += [
                "",
                "Try:",
                "  " + example,
                f"  or open {base}/?token={cc}  (the page drops it from the address)",
                f"  KPI report: {base}/#kpi (the same token)",
            ]
        inv = next((t for t, p in tokens.items() if p.role == "investigator"), None)
        if inv:
            lines.append(
                f"  replay (what the hub knew when): {base}/?token={inv} as the investigator,"
                " then the link 回溯 (replay) on a person's or a case's page"
            )
    lines += ["", "Ctrl-C stops everything.", ""]
    return "\n".join(lines)


def check_bind(settings: Settings) -> None:
    """A port already taken is one line naming the setting, before anything starts."""
    with socket.socket(socket.AF_INET6 if ":" in settings.api_host else socket.AF_INET) as s:
        try:
            s.bind((settings.api_host, settings.api_port))
        except OSError as exc:
            raise ConfigError(
                f"HUB_API_BIND={settings.api_bind}: cannot listen there "
                f"({exc.strerror}); is another hub running? set HUB_API_BIND "
                "to a free host:port"
            ) from None


async def until_archived(
    settings: Settings, event_id: str, stop: asyncio.Event, within: float = 60.0
) -> None:
    import asyncpg

    conn = await asyncpg.connect(settings.require_database())
    try:
        deadline = time.monotonic() + within
        while not stop.is_set() and time.monotonic() < deadline:
            if await conn.fetchval("SELECT 1 FROM event_archive WHERE event_id = $1", event_id):
                return
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def up(settings: Settings, demo: bool) -> int:
    import uvicorn

    require_tokens_for_real_services(settings)
    check_bind(settings)

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
        # A broker that refuses what the producers need is one line now, not a traceback
        # in every worker later.
        await (await start_producer(settings, "publisher")).stop()
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
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.api_host,
                port=settings.api_port,
                log_level="warning",
                lifespan="on",
                access_log=False,
                timeout_graceful_shutdown=2,
            )
        )
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
            events = story.story(epoch=now() - timedelta(days=10))
            hint = events[0]["data"]["person"]["national_id"]
            feeding = asyncio.create_task(demo_feed(settings, events))
            # The banner's example answers once the story is in the read model: wait for it.
            print(
                "waiting for the scripted dispute to reach the read model…",
                file=sys.stderr,
                flush=True,
            )
            await until_archived(settings, events[-1]["id"], stop)
        print(banner(settings, demo_tokens, hint), flush=True)
        await stop.wait()
        print("stopping…", file=sys.stderr, flush=True)
        if feeding:
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeding  # its producer closes before the loop does
        supervisor.cancel()
        server.should_exit = True
        await serving
        return 0
    finally:
        await asyncio.to_thread(hub.stop)


RECENT_RATE = 20  # events/s of the demo city's last two days


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def demo_feed(settings: Settings, story: list[dict[str, Any]]) -> None:
    """The scripted dispute at once, then a simulated city at a steady, watchable rate."""
    from hub.sim import city as simulator

    await publish_records(settings, as_records(story), show=False)
    end = now()
    city = await asyncio.to_thread(
        simulator.simulate,
        simulator.SimConfig(seed=1, events=20_000, start=end - timedelta(days=300)),
    )
    city = [e for e in city if e.time <= end]  # what has happened by now, nothing after
    # History at once, so the map soon shows the city as it stands now (cases of the last
    # days still open, some within their time, some overdue); the last two days at a
    # watchable rate, so the feed moves.
    recent = end - timedelta(days=2)
    history = [e.event for e in city if e.time < recent]
    tail = [e.event for e in city if e.time >= recent]
    log.info("demo.city", history=len(history), recent=len(tail), rate=RECENT_RATE)
    await publish_records(settings, as_records(history), show=False)
    await publish_records(settings, as_records(tail), rate=RECENT_RATE, show=False)
    log.info("demo.city.published", events=len(city))
