"""The read model's database: connections and pools, the numbered migrations, the
consumers' positions, and the list of tables a rebuild must reproduce.

Everything else writes through :mod:`projections.store` (the one batch transaction)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import structlog

log = structlog.get_logger("projections.db")

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MIGRATION_LOCK = 0x43495649  # advisory lock id: one migrator at a time

# Staging tables for COPY, one set per connection, emptied at every commit. JSON travels as
# text and is cast on insert.
_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS stage_field (entity_kind text, entity_id text, field text,
    value text, time timestamptz, source text, event_id text, agency text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_member (entity_kind text, entity_id text, relation text,
    member text, attrs text, time timestamptz, source text, event_id text, agency text)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_entity (entity_kind text, entity_id text,
    time timestamptz, source text, event_id text) ON COMMIT DELETE ROWS;
"""


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        format="text",
    )
    await conn.execute(_STAGING_DDL)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's reset query (advisory unlocks, CLOSE ALL, UNLISTEN,
    RESET ALL: one more round trip per checkout, measured at ~8 % of an API read). Pool
    connections never take session locks, cursors, LISTENs or SETs (migrations use their own
    connection); an open transaction is still rolled back by asyncpg before this runs."""


async def create_pool(
    dsn: str,
    schema: str = "public",
    min_size: int = 1,
    max_size: int = 10,
    custom_plans: bool = False,
) -> asyncpg.Pool:
    """``custom_plans`` (the projector's pools): plan each statement for its own arguments.
    asyncpg prepares statements, and after five runs PostgreSQL may keep a generic plan made
    while the tables were empty (a worker starting on a fresh read model): the blocking
    lookups of the resolver then scanned whole tables until the next autoanalyze (measured
    on 100-event batches: resolver 9.7 → 3.2 ms per batch, the batch 46 → 37 ms). Planning
    per statement costs far less than that over a batch."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"not a plain schema name: {schema!r}")
    settings = {"search_path": schema, "application_name": "civic-hub"}
    if custom_plans:
        settings["plan_cache_mode"] = "force_custom_plan"
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings=settings,
    )
    assert pool is not None
    return pool


def database_down(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached now (stopped, restarting, the
    connection cut), as opposed to a fault of the statement: wait and try again."""
    if isinstance(
        exc, OSError | asyncpg.PostgresConnectionError | asyncpg.OperatorInterventionError
    ):
        return not isinstance(exc, asyncpg.QueryCanceledError)  # a timeout is the statement's
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


async def migrate(dsn: str, schema: str = "public") -> list[str]:
    """Apply the numbered SQL migrations not yet applied; returns the names applied."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"not a plain schema name: {schema!r}")
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(f'SET search_path TO "{schema}"')
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migration (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migration")}
            for path in sorted(MIGRATIONS.glob("*.sql")):
                m = _MIGRATION.match(path.name)
                if not m:
                    raise RuntimeError(f"migration file name not NNN_name.sql: {path.name}")
                version = int(m.group(1))
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute(
                        "INSERT INTO schema_migration (version, name) VALUES ($1, $2)",
                        version,
                        path.name,
                    )
                applied.append(path.name)
                log.info("migration.applied", schema=schema, migration=path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    finally:
        await conn.close()
    return applied


Positions = dict[tuple[str, int], int]


async def read_positions(
    conn: asyncpg.Pool | asyncpg.Connection, consumer: str, schema: str = "public"
) -> Positions:
    """Where ``consumer`` is: the next offset it will apply, per topic partition."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"not a plain schema name: {schema!r}")
    rows = await conn.fetch(
        f'SELECT topic, partition, next_offset FROM "{schema}".stream_position WHERE consumer = $1',
        consumer,
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


# Every batch transaction that moves positions notifies this channel (at its commit, never
# before), so reads waiting for their own writes (min_offset) wake on the notification
# instead of polling. Payload: {"s": schema, "c": consumer, "p": [[topic, partition,
# next_offset], …]}; "p" is null when the list would not fit a notification (PostgreSQL's
# limit is 8000 bytes): the listener then reads the table.
POSITIONS_CHANNEL = "hub_positions"
_NOTIFY_MAX = 6000


def positions_payload(moved: list[tuple[tuple[str, int], int]]) -> str:
    """The moved positions as the notification's ``p`` (JSON text)."""
    text = orjson.dumps([[t, p, o] for (t, p), o in moved]).decode()
    return text if len(text) <= _NOTIFY_MAX else "null"


@dataclass(frozen=True, slots=True)
class PositionsNotice:
    schema: str
    consumer: str
    positions: Positions | None  # None: too many to carry; read the table


def parse_positions_payload(payload: str) -> PositionsNotice:
    doc = orjson.loads(payload)
    moved = doc.get("p")
    positions = None if moved is None else {(t, int(p)): int(o) for t, p, o in moved}
    return PositionsNotice(doc["s"], doc["c"], positions)


def reached(have: Positions, want: Positions) -> bool:
    return all(have.get(tp, 0) >= o for tp, o in want.items())


# Every table the projection writes (so a rebuild must reproduce), with its columns.
REBUILT_TABLES: dict[str, str] = {
    "event_archive": 'source, event_id, type, agency, time, subject, topic, partition, "offset",'
    " version, data, summary, chain, chain_seq, chain_offset, prev_hash, hash, known_at",
    "archive_chain_head": "chain, seq, hash",
    "event_entity": "entity_kind, entity_id, time, source, event_id",
    "deadletter": 'topic, partition, "offset", key, value, reason, detail, field, event_id',
    "entity_field": "entity_kind, entity_id, field, value, time, source, event_id, agency",
    "entity_member": "entity_kind, entity_id, relation, member, attrs, time, source, event_id,"
    " agency",
    "record_link": "agency, kind, record_id, entity_kind, entity_id",
    "mention": "record, name, national_id, nid_valid, birth_date, phone, stamp, place_id,"
    " place_stamp, sound, case_node, case_place",
    "person_edge": "src, dst, origin",
    "case_edge": "src, dst, origin",
    "person_node": "person_id, node",
    "resolution_decision": "decision_id, action, a, b, score, evidence, decided_by, time",
    "case_thread": "case_id, opened_at, thread_id",
}
ANALYZED = (*REBUILT_TABLES, "stream_position")


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[tuple[Any, ...]]]:
    """Every rebuilt table in a canonical order, for comparing two read models in tests."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with pool.acquire() as conn:
        for name, cols in REBUILT_TABLES.items():
            n = cols.count(",") + 1
            order = ", ".join(str(i) for i in range(1, n + 1))
            rows = await conn.fetch(f"SELECT {cols} FROM {name} ORDER BY {order}")
            out[name] = [tuple(r) for r in rows]
    return out
