"""The composition root: settings → clients → app, for the API, the stream workers and the
CLI. Every Kafka producer and every PostgreSQL pool the hub makes is made here, so their
options live in one place (acks, idempotence, sizes; pool sizes and planning)."""

from __future__ import annotations

from typing import Any, Literal

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.helpers import create_ssl_context

from hub.config import ConfigError, Settings
from projections.coordination.rules import Rules, RulesError, load_rules
from projections.db import create_pool
from projections.matching import Model, load_model
from projections.store import Store
from schemas.topics import DEADLETTER_MAX_BYTES
from streams.project import Projector

ProducerRole = Literal["projector", "gateway", "publisher", "retry"]
PoolRole = Literal["projector", "api", "rebuild", "client"]

# What each producer sends: the projector dead letters (a record an agency topic took must
# fit hub.deadletter whole) and decisions; the gateway and publisher batches of events.
_PRODUCER_OPTIONS: dict[ProducerRole, dict[str, int]] = {
    "projector": {"linger_ms": 5, "max_request_size": DEADLETTER_MAX_BYTES + 64 * 1024},
    "gateway": {"linger_ms": 2, "max_batch_size": 1024 * 1024, "max_request_size": 4 * 1024 * 1024},
    "publisher": {
        "linger_ms": 5,
        "max_batch_size": 512 * 1024,
        "max_request_size": 4 * 1024 * 1024,
    },
    "retry": {},
}
# Pool sizes per role; the projector and rebuild plan each statement for its arguments
# (see projections.store.create_pool).
_POOL_OPTIONS: dict[PoolRole, tuple[int, bool]] = {
    "projector": (4, True),
    "api": (16, False),
    "rebuild": (2, True),
    "client": (2, False),
}


class IdempotenceRefused(RuntimeError):
    """The broker refused an idempotent producer; the message says what to set."""


def kafka_auth(settings: Settings) -> dict[str, Any]:
    """The security options of every aiokafka client (producer, consumer, admin):
    HUB_KAFKA_SECURITY_PROTOCOL, HUB_KAFKA_SASL_* and HUB_KAFKA_SSL_CAFILE."""
    sec = settings.kafka_security
    out: dict[str, Any] = {"security_protocol": sec.protocol}
    if sec.tls:
        out["ssl_context"] = create_ssl_context(cafile=str(sec.cafile) if sec.cafile else None)
    if sec.sasl:
        out.update(
            sasl_mechanism=sec.mechanism,
            sasl_plain_username=sec.username,
            sasl_plain_password=sec.password,
        )
    return out


def new_producer(settings: Settings, role: ProducerRole) -> AIOKafkaProducer:
    """An unstarted producer with acks=all (durable in the log before anything moves on)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.require_kafka(),
        acks="all",
        enable_idempotence=settings.producer_idempotence,
        **_PRODUCER_OPTIONS[role],
        **kafka_auth(settings),
    )


def new_admin(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=settings.require_kafka(), **kafka_auth(settings))


async def start_producer(settings: Settings, role: ProducerRole) -> AIOKafkaProducer:
    """A started producer; a broker that refuses idempotence is named in one line."""
    producer = new_producer(settings, role)
    try:
        await producer.start()
    except KafkaError as exc:
        await producer.stop()
        # A broker without transactions answers InitProducerId with an error (the embedded
        # one says UnknownError); an unreachable broker is a different failure.
        if settings.producer_idempotence and not isinstance(exc, KafkaConnectionError):
            raise IdempotenceRefused(
                f"the Kafka broker at {settings.require_kafka()} refused an idempotent producer"
                f" ({type(exc).__name__}); set HUB_KAFKA_IDEMPOTENCE=false for a broker that"
                " does not support it"
            ) from exc
        raise
    return producer


async def new_pool(
    settings: Settings, role: PoolRole, schema: str = "public", dsn: str | None = None
) -> asyncpg.Pool:
    """The API's pool connects as the API's database role (INSERT only on the audit); the
    others as the hub's user (the projector analyzes and the rebuild drops what it owns)."""
    size, custom_plans = _POOL_OPTIONS[role]
    if dsn is None:
        dsn = settings.database_url_as("api") if role == "api" else settings.require_database()
    return await create_pool(dsn, schema=schema, max_size=size, custom_plans=custom_plans)


async def projector(
    settings: Settings, consumer: str | None = None, schema: str = "public"
) -> Projector:
    """A projector for this deployment: its store, positions under ``consumer`` (the stream
    app id by default), and a producer for dead letters and decisions."""
    pool = await new_pool(settings, "projector", schema=schema)
    try:
        producer = await start_producer(settings, "projector")
    except BaseException:
        await pool.close()
        raise
    store = Store(
        pool,
        consumer or settings.streams_app_id,
        settings.agencies,
        match_model(settings),
        rules=coordination_rules(settings),
        defer_resolution=True,  # the worker's resolver task decides beside the batches
        watermark=(
            len(settings.agencies) * settings.partitions
            if settings.sweep_clock == "watermark"
            else 0
        ),
    )
    return Projector(store, producer, settings.resolution_topic)


def match_model(settings: Settings) -> Model:
    """The matcher's weights; a bad HUB_MATCH_MODEL file stops the start with its reason."""
    try:
        return load_model(settings.match_model_path)
    except ValueError as exc:
        raise ConfigError(f"HUB_MATCH_MODEL: {exc}") from None


def coordination_rules(settings: Settings) -> Rules:
    """The coordination rules in force (HUB_RULES, else the shipped default); a bad file
    stops the start with its reason."""
    try:
        return load_rules(settings.rules_path)
    except RulesError as exc:
        raise ConfigError(f"HUB_RULES: {exc}") from None
