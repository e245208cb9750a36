"""The faust app: its agents, and nothing else.

``intake`` reads every agency topic and the resolution topic in batches (``take_events``:
events are acked only after the batch body returns, so offsets are committed after
PostgreSQL has the rows), hands each batch to the :class:`~streams.project.Projector`, and
lets faust commit offsets at its own pace. Exactly-once effects do not depend on those
commits: positions live in PostgreSQL with the rows (see :mod:`projections.store`).

The app is built by :func:`create_app` from plain options and a projector factory; the
composition root (``hub.worker``) supplies both, so nothing here reads the environment.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import faust
import structlog
from aiokafka.helpers import create_ssl_context

from streams.project import Projector, until_database

log = structlog.get_logger("streams.app")


@dataclass(frozen=True)
class WorkerOptions:
    app_id: str  # the consumer group, and the prefix of the internal topics
    bootstrap: str  # host:port[,…]
    topics: tuple[str, ...]  # what the intake agent reads
    data_dir: Path
    batch_size: int
    batch_within: float  # seconds: a batch closes after this long even if not full
    session_timeout: float
    sweep_every: float = 1.0  # seconds between sweeps for coordination notices that fell due
    kpi_every: float = 5.0  # seconds between folds of new archive rows into the KPI summary
    # How the workers authenticate to the brokers (HUB_KAFKA_SECURITY_PROTOCOL, HUB_KAFKA_SASL_*)
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None


def broker_credentials(opts: WorkerOptions) -> faust.types.auth.CredentialsT | None:
    """faust's credentials for the options: SASL (over TLS for SASL_SSL), TLS alone, or none."""
    tls = opts.security_protocol in ("SSL", "SASL_SSL")
    context = create_ssl_context(cafile=opts.ssl_cafile) if tls else None
    if opts.security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=opts.sasl_username,
            password=opts.sasl_password,
            ssl_context=context,
            mechanism=opts.sasl_mechanism,
        )
    if tls:
        return faust.SSLCredentials(context)
    return None


def create_app(
    opts: WorkerOptions, start_projector: Callable[[], Awaitable[Projector]]
) -> faust.App:
    app = faust.App(
        opts.app_id,
        # hubkafka: faust's aiokafka driver with a short fetch wait (streams/transport.py)
        broker=[f"hubkafka://{h}" for h in opts.bootstrap.split(",")],
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        datadir=str(opts.data_dir / "faust"),
        # 'latest' can silently skip most of a partition on the embedded broker, whose end
        # offsets are wrong (seen: 248,200 records skipped).
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        processing_guarantee="at_least_once",
        topic_allow_declare=False,  # `civic-hub up` creates topics; workers never do
        topic_disable_leader=True,
        stream_buffer_maxsize=max(8192, opts.batch_size * 2),
        broker_commit_every=opts.batch_size,
        broker_max_poll_records=opts.batch_size,
        broker_session_timeout=opts.session_timeout,
        broker_heartbeat_interval=min(3.0, opts.session_timeout / 4),
        broker_credentials=broker_credentials(opts),
    )
    inbound = app.topic(*opts.topics, value_serializer="raw", key_serializer="raw")
    projector: list[Projector] = []

    @app.agent(inbound)
    async def intake(stream: faust.StreamT[bytes]) -> None:
        try:
            if not projector:
                projector.append(await until_database("start", start_projector))
                resolver = asyncio.create_task(projector[0].resolve_forever())
                resolver.add_done_callback(_stop_on_failure)
            async for events in stream.take_events(opts.batch_size, within=opts.batch_within):
                await projector[0].apply(events)
        except Exception:
            # A bug or a lost broker stops the worker loudly (a database stopped or
            # restarting is waited out in the projector); the supervisor restarts it
            # and the batch replays from PostgreSQL's positions (nothing lost, nothing
            # doubled). faust would otherwise restart the agent in a loop or leave the
            # partitions idle.
            log.exception("intake.failed")
            sys.stderr.flush()
            os._exit(70)

    @app.timer(opts.sweep_every)
    async def notices() -> None:
        # Every worker sweeps (rows are taken with SKIP LOCKED); the first tick after start
        # raises what fell due while no worker ran.
        if not projector:
            return
        try:
            raised = await projector[0].sweep()
        except Exception:  # a restarting database or broker: the next tick tries again
            log.exception("coordination.sweep_failed")
            return
        if raised:
            log.info("coordination.swept", raised=raised)

    @app.timer(opts.kpi_every)
    async def kpi_summary() -> None:
        # One worker folds at a time (the others skip the tick); the report sums what is
        # folded and replays the rest, so a slow or failed fold only makes it slower.
        if not projector:
            return
        try:
            await projector[0].fold_kpi()
        except Exception:
            log.exception("kpi.fold_failed")

    return app


def _stop_on_failure(task: asyncio.Task[None]) -> None:
    """The resolver ended other than by cancellation: stop the worker loudly, as the intake
    does; the supervisor restarts it and the queued records are decided then."""
    if task.cancelled():
        return
    exc = task.exception()
    log.error("resolver.failed", error=f"{type(exc).__name__}: {exc}" if exc else "ended")
    sys.stderr.flush()
    os._exit(70)
