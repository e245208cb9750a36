"""The faust app: its agents, and nothing else.

``intake`` reads every agency topic in batches (``take_events``: events are acked only
after the batch body returns, so offsets are committed after PostgreSQL has the rows),
hands each batch to the :class:`~streams.project.Projector`, and lets faust commit offsets
at its own pace. Exactly-once effects do not depend on those commits: positions live in
PostgreSQL with the rows (see :mod:`projections.store`).

Run with ``python -m streams worker --without-web`` (the faust web server's fixed port
would clash between workers; shared/BROKER.md).
"""

from __future__ import annotations

import asyncio
import os
import sys

import faust
import structlog

from hub.config import load_settings
from hub.logs import configure
from hub.topics import ensure_topics
from streams.project import Projector

configure(process="stream-worker")
log = structlog.get_logger("streams.app")
settings = load_settings()
if settings.kafka_bootstrap:
    # The resolution topic is this deployment's own (named after the app id); the worker
    # makes sure it exists before subscribing, as `civic-hub up` does for the rest.
    asyncio.run(ensure_topics(settings))

app = faust.App(
    settings.streams_app_id,
    # hubkafka: faust's aiokafka driver with a short fetch wait (streams/transport.py)
    broker=[f"hubkafka://{h}" for h in (settings.kafka_bootstrap or "127.0.0.1:9092").split(",")],
    value_serializer="raw",
    key_serializer="raw",
    web_enabled=False,
    datadir=str(settings.data_dir / "faust"),
    # shared/BROKER.md: 'latest' can silently skip most of a partition on the embedded broker.
    consumer_auto_offset_reset="earliest",
    producer_acks=-1,
    processing_guarantee="at_least_once",
    topic_allow_declare=False,  # `civic-hub up` creates topics; workers never do
    topic_disable_leader=True,
    stream_buffer_maxsize=max(8192, settings.batch_size * 2),
    broker_commit_every=settings.batch_size,
    broker_max_poll_records=settings.batch_size,
    broker_session_timeout=settings.session_timeout,
    broker_heartbeat_interval=min(3.0, settings.session_timeout / 4),
)

inbound = app.topic(*settings.inbound_topics, settings.resolution_topic,
                    value_serializer="raw", key_serializer="raw")
_projector: Projector | None = None


@app.agent(inbound)
async def intake(stream: faust.StreamT[bytes]) -> None:
    global _projector
    try:
        if _projector is None:
            _projector = await Projector.start(settings)
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within):
            await _projector.apply(events)
    except Exception:
        # A bug or a lost database stops the worker loudly; the supervisor restarts it and
        # the batch replays from PostgreSQL's positions (nothing lost, nothing doubled).
        # faust would otherwise restart the agent in a loop or leave the partitions idle.
        log.exception("intake.failed")
        sys.stderr.flush()
        os._exit(70)
