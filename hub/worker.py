"""One stream worker: ``python -m hub.worker worker --without-web`` (faust's own command
line; the faust web server's fixed port would clash between workers).

Wires the environment's settings into the faust app of :mod:`streams.app`: the topics it
reads, and a projector made by :mod:`hub.bootstrap`.
"""

from __future__ import annotations

import asyncio

import asyncpg
import faust

from hub import bootstrap
from hub.config import Settings, load_settings
from hub.logs import configure
from hub.topics import ensure_topics
from projections.db import read_positions
from schemas.topics import COORDINATION_TOPIC
from streams import transport
from streams.app import WorkerOptions, create_app


def stored_positions(settings: Settings) -> transport.StoredPositions:
    """Where the read model stands (its positions in PostgreSQL), read on a connection of
    its own (the consumer's thread has its own event loop)."""

    async def read(tps: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
        conn = await asyncpg.connect(settings.require_database())
        try:
            have = await read_positions(conn, settings.streams_app_id)
        finally:
            await conn.close()
        return {tp: o for tp, o in have.items() if tp in tps}

    return read


def worker_app(settings: Settings) -> faust.App:
    sec = settings.kafka_security
    opts = WorkerOptions(
        app_id=settings.streams_app_id,
        bootstrap=settings.kafka_bootstrap or "127.0.0.1:9092",
        topics=(*settings.inbound_topics, settings.resolution_topic, COORDINATION_TOPIC),
        data_dir=settings.data_dir,
        batch_size=settings.batch_size,
        batch_within=settings.batch_within,
        session_timeout=settings.session_timeout,
        security_protocol=sec.protocol,
        sasl_mechanism=sec.mechanism,
        sasl_username=sec.username,
        sasl_password=sec.password,
        ssl_cafile=str(sec.cafile) if sec.cafile else None,
    )
    transport.stored_positions = stored_positions(settings)
    return create_app(opts, lambda: bootstrap.projector(settings))


def main() -> None:
    configure(process="stream-worker")
    settings = load_settings()
    if settings.kafka_bootstrap:
        # The resolution topic is this deployment's own (named after the app id); the worker
        # makes sure it exists before subscribing, as `civic-hub up` does for the rest.
        asyncio.run(ensure_topics(settings))
    worker_app(settings).main()


if __name__ == "__main__":
    main()
