"""Health and metrics: for operators and Prometheus, no personal data, no token."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest

router = APIRouter(tags=["system"])

CONSUMED = Gauge(
    "hub_consumed_offset",
    "Next offset the projector will read, per partition",
    ["consumer", "topic", "partition"],
)
DEADLETTERS = Gauge("hub_deadletter_records", "Records rejected by the intake", ["reason"])


@router.get(
    "/healthz",
    summary="Liveness and read-model positions",
    response_model=None,
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "status": "ok",
                        "positions": [
                            {
                                "consumer": "hub.internal.streams",
                                "topic": "agency.city",
                                "partition": 0,
                                "next_offset": 1234,
                            }
                        ],
                    }
                }
            }
        },
        503: {"description": "the database cannot be reached"},
    },
)
async def healthz(request: Request) -> Response | dict[str, Any]:
    pool: asyncpg.Pool = request.app.state.pool
    try:
        rows = await pool.fetch(
            "SELECT consumer, topic, partition, next_offset FROM stream_position ORDER BY 1, 2, 3"
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        from hub.api.problems import problem_response

        # degraded: the API runs and answers again once the database is back
        return problem_response(
            503, "Degraded", f"database: {exc}", headers={"Retry-After": "2"}, health="degraded"
        )
    return {"status": "ok", "positions": [dict(r) for r in rows]}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/plain": {
                    "example": (
                        "# TYPE hub_consumed_offset gauge\n"
                        'hub_consumed_offset{consumer="hub.internal.streams",topic="agency.city",'
                        'partition="0"} 1234.0\n'
                    )
                }
            }
        }
    },
)
async def metrics(request: Request) -> Response:
    pool: asyncpg.Pool = request.app.state.pool
    rows = await pool.fetch("SELECT consumer, topic, partition, next_offset FROM stream_position")
    for r in rows:
        CONSUMED.labels(r["consumer"], r["topic"], str(r["partition"])).set(r["next_offset"])
    for r in await pool.fetch("SELECT reason, count(*) AS n FROM deadletter GROUP BY reason"):
        DEADLETTERS.labels(r["reason"]).set(r["n"])
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
