"""The API's composition root: settings in, a FastAPI app out."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import Counter, Histogram
from swagger_ui_bundle import swagger_ui_path

from hub import __version__
from hub.api import (
    audit_log,
    candidates,
    cases,
    events,
    feed,
    persons,
    places,
    problems,
    purposes,
    replay,
    replay_chronology,
    reports,
    system,
)
from hub.api import map as grid_map_routes
from hub.api.context import OrjsonResponse, unaudited_v1_routes
from hub.api.headers import SecurityHeaders, docs_policy
from hub.api.offsets import PositionWatcher
from hub.audit import AuditWriter
from hub.bootstrap import coordination_rules, new_pool, start_producer
from hub.checkpoints import Checkpointer, load_signing_key
from hub.config import Settings
from hub.feed import LiveFeed
from hub.gateway import Gateway
from hub.geo import GridMap
from hub.policy import Policy
from hub.tokens import TokenBook

log = structlog.get_logger("hub.api")
# The command center page as `make web` builds it (hub/web/build.mjs): no CDN, no tiles.
WEB = Path(__file__).resolve().parent.parent / "web" / "dist"

REQUESTS = Counter("hub_api_requests_total", "API requests", ["route", "status"])
LATENCY = Histogram("hub_api_request_seconds", "API request latency", ["route"])


class Observe:
    """Requests and latency per route for /metrics. Plain ASGI (no per-request task or
    body re-streaming, as Starlette's BaseHTTPMiddleware would add)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", "unmatched")
            REQUESTS.labels(name, str(status[0])).inc()
            LATENCY.labels(name).observe(time.perf_counter() - t0)


def create_app(settings: Settings, tokens: TokenBook) -> FastAPI:
    policy = Policy.load(settings.policy_path)  # fail at start, not at the first read
    grid_map = GridMap.from_env()  # HUB_GRID_GEOJSON, HUB_TIMEZONE: fail at start too
    signing_key = load_signing_key(settings)  # the audit checkpoints' key: at start too
    rules = coordination_rules(settings)  # HUB_RULES: fail at start too

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await new_pool(settings, "api")
        app.state.tokens = tokens
        app.state.policy = policy
        app.state.grid_map = grid_map
        app.state.rules = rules
        app.state.audit = AuditWriter(app.state.pool)
        app.state.audit.start()
        checkpointer = Checkpointer(app.state.pool, signing_key, settings.audit_checkpoint_seconds)
        checkpointer.start()
        app.state.checkpointer = checkpointer  # an export signs the heads it proves
        app.state.feed = LiveFeed(app.state.pool, rules=rules)
        app.state.feed.start()
        app.state.consumer = settings.streams_app_id
        app.state.inbound_topics = settings.inbound_topics
        app.state.offsets = PositionWatcher(
            settings.require_database(), app.state.pool, settings.streams_app_id
        )
        app.state.offsets.start()
        app.state.resolution_topic = settings.resolution_topic
        producer = await start_producer(settings, "gateway")
        app.state.gateway = Gateway(app.state.pool, producer, settings.agencies)
        try:
            yield
        finally:
            await app.state.offsets.stop()
            await app.state.feed.stop()
            await app.state.audit.stop()
            await checkpointer.close()  # the heads as this API leaves them, signed
            await producer.stop()
            await app.state.pool.close()

    app = FastAPI(
        title="Civic Hub query API",
        version=__version__,
        description="One audited view of persons, places and case threads across agencies. "
        "Every /v1 call needs `Authorization: Bearer <token>`; person reads need `X-Purpose`.",
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
        docs_url=None,  # served below from the hub's own files: no CDN
        redoc_url=None,
    )
    problems.install(app)
    # Swagger UI 5 (reads OpenAPI 3.1) from the page's build (`make web`, npm
    # swagger-ui-dist); the older Python package's 3.x is only a fallback for a hub run
    # without the page built, and cannot render 3.1.
    docs_assets = WEB / "docs-assets"
    app.mount(
        "/docs-assets",
        StaticFiles(directory=docs_assets if docs_assets.is_dir() else swagger_ui_path),
        name="docs-assets",
    )

    docs_page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Civic Hub query API",
        swagger_js_url="/docs-assets/swagger-ui-bundle.js",
        swagger_css_url="/docs-assets/swagger-ui.css",
        swagger_favicon_url="/docs-assets/favicon-32x32.png",
    ).body
    docs_csp = {"Content-Security-Policy": docs_policy(docs_page)}

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return Response(docs_page, media_type="text/html", headers=docs_csp)

    app.include_router(candidates.router)
    app.include_router(persons.router)
    app.include_router(cases.router)
    app.include_router(feed.router)
    app.include_router(places.router)
    app.include_router(grid_map_routes.router)
    app.include_router(purposes.router)
    app.include_router(audit_log.router)
    app.include_router(reports.router)
    app.include_router(replay.router)
    app.include_router(events.router)
    app.include_router(replay_chronology.router)
    app.include_router(system.router)
    app.mount("/ui", StaticFiles(directory=WEB, check_dir=False), name="ui")

    @app.get("/", include_in_schema=False, response_model=None)
    async def index() -> FileResponse | Response:
        if not (WEB / "index.html").exists():
            return problems.problem_response(
                503,
                "Page not built",
                "the command center page is built by `make web` "
                "(npm and esbuild); the API works without it",
            )
        return FileResponse(WEB / "index.html")

    app.add_middleware(SecurityHeaders)
    app.add_middleware(Observe)
    if unaudited := unaudited_v1_routes(app.routes):
        raise RuntimeError(f"/v1 routes without their audit: {unaudited} (use v1_router)")
    return app
