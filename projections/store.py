"""The PostgreSQL side of the read model: pool, migrations, and the batch apply.

:meth:`Store.apply_batch` is the one place effects happen. In one transaction it locks the
consumer's positions for the batch's partitions, skips records at or below them (a replay
after a crash), archives the new events (the archive's primary key is the contract's
``(source, id)`` dedupe), runs the pure projection, writes its rows with multi-row
upserts, records rejected records, and moves the positions. Commit or nothing: a crash at
any point leaves the read model as if the batch had never been seen.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import structlog

from projections.changes import Changes
from projections.decide import Decision, decide_referral, parse_decision
from projections.graph import (
    ORIGIN_MERGE,
    canonical_node,
    components,
    write_edges,
    write_nodes,
)
from projections.intake import InboundRecord, RejectedRecord, split
from projections.matching import DEFAULT, Model
from projections.names import sound_key
from projections.person_match import decide_persons
from projections.project import Accepted, Links, archive_rows, links_needed, project
from schemas.topics import is_resolution_topic

log = structlog.get_logger("projections.store")

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


def stamp_text(stamp: tuple[Any, str, str]) -> str:
    """(time, source, id) as text that sorts like the tuple: UTC time at fixed width."""
    t = stamp[0].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{t}|{stamp[1]}|{stamp[2]}"


def _json(v: Any) -> str:
    return orjson.dumps(v).decode()


DecisionSink = Callable[[Sequence[Decision]], Awaitable[None]]


DeadletterSink = Callable[[Sequence[RejectedRecord]], Awaitable[None]]


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog",
        encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, format="text",
    )
    await conn.execute(_STAGING_DDL)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's reset query (advisory unlocks, CLOSE ALL, UNLISTEN,
    RESET ALL: one more round trip per checkout, measured at ~8 % of an API read). Pool
    connections never take session locks, cursors, LISTENs or SETs (migrations use their own
    connection); an open transaction is still rolled back by asyncpg before this runs."""


async def create_pool(dsn: str, schema: str = "public", min_size: int = 1,
                      max_size: int = 10, custom_plans: bool = False) -> asyncpg.Pool:
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
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session,
        server_settings=settings,
    )
    assert pool is not None
    return pool


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
                        version, path.name,
                    )
                applied.append(path.name)
                log.info("migration.applied", schema=schema, migration=path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    finally:
        await conn.close()
    return applied


@dataclass
class BatchResult:
    records: int = 0
    skipped: int = 0  # at or below the stored position: already applied before a restart
    accepted: int = 0
    duplicates: int = 0  # same (source, id) as an event already in the archive
    rejected: int = 0
    decisions: int = 0
    positions: dict[tuple[str, int], int] = field(default_factory=dict)


Positions = dict[tuple[str, int], int]


async def read_positions(conn: asyncpg.Pool | asyncpg.Connection, consumer: str,
                         schema: str = "public") -> Positions:
    """Where ``consumer`` is: the next offset it will apply, per topic partition."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"not a plain schema name: {schema!r}")
    rows = await conn.fetch(
        f'SELECT topic, partition, next_offset FROM "{schema}".stream_position'
        " WHERE consumer = $1", consumer)
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


def reached(have: Positions, want: Positions) -> bool:
    return all(have.get(tp, 0) >= o for tp, o in want.items())


async def read_links(conn: asyncpg.Pool | asyncpg.Connection,
                     keys: set[tuple[str, str, str]]) -> Links:
    """Which hub entity each agency record ``(agency, kind, record_id)`` is linked to."""
    if not keys:
        return {}
    ks = sorted(keys)
    rows = await conn.fetch(
        "SELECT l.agency, l.kind, l.record_id, l.entity_kind, l.entity_id FROM record_link l"
        " JOIN unnest($1::text[], $2::text[], $3::text[]) AS x(a, k, r)"
        " ON l.agency = x.a AND l.kind = x.k AND l.record_id = x.r",
        [k[0] for k in ks], [k[1] for k in ks], [k[2] for k in ks],
    )
    return {(r["agency"], r["kind"], r["record_id"]): (r["entity_kind"], r["entity_id"])
            for r in rows}


class Store:
    def __init__(self, pool: asyncpg.Pool, consumer: str, agencies: tuple[str, ...],
                 model: Model = DEFAULT):
        self.pool = pool
        self.model = model  # who is who: the Fellegi–Sunter weights the resolver decides by
        self.consumer = consumer
        self.agencies = agencies
        self.applied = 0
        self.analyze_at = ANALYZE_FIRST
        self._analyzing: asyncio.Task[None] | None = None

    async def positions(self) -> Positions:
        return await read_positions(self.pool, self.consumer)

    async def apply_batch(self, records: Sequence[InboundRecord],
                          deadletter: DeadletterSink | None = None,
                          decisions: DecisionSink | None = None) -> BatchResult:
        """Apply one batch in one transaction. ``decisions``, when given (the live workers),
        receives the resolution decisions this batch calls for, to write them to the log
        before the commit; without it (a rebuild) nothing is decided, only replayed.

        Workers sharing the partitions write some of the same rows (edges, places) in
        different orders; PostgreSQL then aborts one transaction as a deadlock. The batch
        is rolled back whole, so it is simply applied again (what it sent to the log on the
        way is sent again: decisions are keyed by id, dead letters by origin)."""
        for attempt in range(1, DEADLOCK_RETRIES + 1):
            try:
                return await self._apply_batch_once(records, deadletter, decisions)
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError) as exc:
                if attempt == DEADLOCK_RETRIES:
                    raise
                log.warning("store.batch_retried", attempt=attempt, error=type(exc).__name__,
                            records=len(records))
                await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)
        raise AssertionError("unreachable")

    async def _apply_batch_once(self, records: Sequence[InboundRecord],
                                deadletter: DeadletterSink | None,
                                decisions: DecisionSink | None) -> BatchResult:
        result = BatchResult(records=len(records))
        if not records:
            return result
        tps = sorted({(r.topic, r.partition) for r in records})
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO stream_position (consumer, topic, partition, next_offset)"
                " SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) AS x(t, p)"
                " ON CONFLICT DO NOTHING",
                self.consumer, [t for t, _ in tps], [p for _, p in tps],
            )
            rows = await conn.fetch(
                "SELECT topic, partition, next_offset FROM stream_position"
                " WHERE consumer = $1 AND (topic, partition) IN"
                " (SELECT * FROM unnest($2::text[], $3::int[]))"
                " ORDER BY topic, partition FOR UPDATE",
                self.consumer, [t for t, _ in tps], [p for _, p in tps],
            )
            stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
            fresh = [r for r in records if r.offset >= stored[(r.topic, r.partition)]]
            result.skipped = len(records) - len(fresh)
            decision_records = [r for r in fresh if is_resolution_topic(r.topic)]
            if decision_records:
                fresh_inbound = [r for r in fresh if not is_resolution_topic(r.topic)]
            else:
                fresh_inbound = fresh
            accepted, rejected = split(fresh_inbound, self.agencies)
            bad, by_people = await self._apply_decisions(conn, decision_records)
            rejected += bad
            new, conflicts = await self._archive(conn, accepted)
            if conflicts:
                by_pos = {(r.topic, r.partition, r.offset): r for r in fresh}
                rejected += [RejectedRecord(by_pos[(c.record.topic, c.record.partition,
                                                    c.record.offset)], c.reason, c.detail,
                                            c.field, c.event_id) for c in conflicts]
            result.accepted = len(new)
            result.duplicates = len(accepted) - len(new) - len(conflicts)
            changes = Changes()
            if new:
                known = await self._links(conn, links_needed(new))
                changes = project(new, known)
                await self._write(conn, changes)
            if decisions is not None and (new or by_people):
                # a person's confirmation or rejection reshapes its region too
                made = await self._decide(conn, changes, by_people)
                if made:
                    await decisions(made)
                    result.decisions = len(made)
            if rejected:
                if deadletter is not None:
                    await deadletter(rejected)
                await self._record_rejected(conn, rejected)
            result.rejected = len(rejected)
            nxt = dict(stored)
            for r in fresh:
                nxt[(r.topic, r.partition)] = max(nxt[(r.topic, r.partition)], r.offset + 1)
            moved = [(k, v) for k, v in nxt.items() if v != stored[k]]
            if moved:
                await conn.execute(
                    "UPDATE stream_position s SET next_offset = x.o"
                    " FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o)"
                    " WHERE s.consumer = $1 AND s.topic = x.t AND s.partition = x.p",
                    self.consumer, [k[0] for k, _ in moved], [k[1] for k, _ in moved],
                    [v for _, v in moved],
                )
            result.positions = nxt
        self.applied += result.accepted
        if self.applied >= self.analyze_at and (self._analyzing is None
                                                 or self._analyzing.done()):
            self.analyze_at = max(self.analyze_at * 2, self.applied + ANALYZE_FIRST)
            self._analyzing = asyncio.create_task(self.analyze())
        return result

    async def analyze(self) -> None:
        """Fresh planner statistics while the read model grows fast: at 2k, 4k, 8k, …
        events applied by this process. Autovacuum's thresholds lag a bulk load, and a plan
        made on stale counts can be 100× off (a referral probe joined all city cases on a
        100k-event model: 36 ms a batch instead of under 1 ms). In the background, on its
        own connection, with a small sample: batches do not wait for it."""
        t0 = time.perf_counter()
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute("SET LOCAL default_statistics_target = 20")
                await conn.execute("ANALYZE " + ", ".join(ANALYZED))
        except (OSError, asyncpg.PostgresError) as exc:  # statistics are an optimisation
            log.warning("store.analyze_failed", error=str(exc))
            return
        log.info("store.analyzed", applied=self.applied,
                 ms=round((time.perf_counter() - t0) * 1000, 1), next_at=self.analyze_at)

    # -- steps -------------------------------------------------------------------------
    async def _apply_decisions(self, conn: asyncpg.Connection,
                               records: list[InboundRecord]
                               ) -> tuple[list[RejectedRecord], list[Decision]]:
        """Resolution decisions read from the log become (or stop being) edges. Set-based:
        one statement records them all, then each run of same-kind decisions (in log order,
        so a link then an unlink of the same pair still ends unlinked) is one statement."""
        bad: list[RejectedRecord] = []
        parsed: list[Decision] = []
        for rec in records:
            try:
                parsed.append(parse_decision(rec.value or b""))
            except (ValueError, KeyError, TypeError) as exc:
                bad.append(RejectedRecord(rec, "bad-decision", str(exc)[:500], None, None))
        applied = await self._apply_parsed(conn, parsed)
        by_people = [d for d in applied if d.graph == "person"
                     and not d.decided_by.startswith("resolver/")]
        return bad, by_people

    async def _apply_parsed(self, conn: asyncpg.Connection, parsed: list[Decision]
                            ) -> list[Decision]:
        """Decisions become edges, each once (a decision seen again is skipped); returns
        those applied now."""
        if not parsed:
            return []
        first: dict[str, int] = {}
        for i, d in enumerate(parsed):
            first.setdefault(d.id, i)
        once = [d for i, d in enumerate(parsed) if first[d.id] == i]
        inserted = {r[0] for r in await conn.fetch(
            "INSERT INTO resolution_decision (decision_id, action, a, b, score, evidence,"
            " decided_by, time) SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
            " $4::text[], $5::float8[], $6::jsonb[], $7::text[], $8::timestamptz[])"
            " ON CONFLICT DO NOTHING RETURNING decision_id",
            [d.id for d in once], [d.action for d in once], [d.a for d in once],
            [d.b for d in once], [d.score for d in once], [d.evidence for d in once],
            [d.decided_by for d in once], [d.time for d in once])}
        # the same decision again (a replay after a crash): once is enough
        todo = [d for d in once if d.id in inserted]
        runs: list[tuple[tuple[str, bool], list[Decision]]] = []
        for d in todo:
            if d.action not in EDGE_ACTIONS:
                continue  # a candidate waits for a person's word: no edge either way
            key = (d.graph, d.action == "link")
            if runs and runs[-1][0] == key:
                runs[-1][1].append(d)
            else:
                runs.append((key, [d]))
        for (graph, link), ds in runs:
            a, b, ids = [d.a for d in ds], [d.b for d in ds], [d.id for d in ds]
            table = "case_edge" if graph == "case" else "person_edge"
            if link:
                await conn.execute(
                    # both directions; a pair decided twice in the run keeps the smallest
                    # decision id, as ORIGIN_MERGE does for decisions across statements
                    f"INSERT INTO {table} AS e (src, dst, origin) SELECT s, d, min(o) FROM"
                    " (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) UNION ALL"
                    "  SELECT * FROM unnest($2::text[], $1::text[], $3::text[])) x(s, d, o)"
                    " GROUP BY s, d ORDER BY s, d"
                    " ON CONFLICT (src, dst) DO UPDATE SET origin = " + ORIGIN_MERGE, a, b, ids)
                if graph == "person":
                    await write_nodes(conn, set(a) | set(b))
            else:  # unlink, reject: remove decided edges; an agency's own statement stays
                keep = "origin LIKE 'D-%'" if graph == "case" else "origin <> 'national_id'"
                await conn.execute(
                    f"DELETE FROM {table} e USING unnest($1::text[], $2::text[]) AS x(a, b)"
                    f" WHERE e.{keep} AND ((e.src = x.a AND e.dst = x.b)"
                    " OR (e.src = x.b AND e.dst = x.a))", a, b)
        return todo

    async def _decide(self, conn: asyncpg.Connection, ch: Changes,
                      by_people: list[Decision]) -> list[Decision]:
        return (await self._decide_persons(conn, ch, by_people)
                + await self._decide_referrals(conn, ch))

    async def _decide_referrals(self, conn: asyncpg.Connection, ch: Changes) -> list[Decision]:
        """A city case at the address of a 110 call the police referred to the city, opened
        soon after the referral: the same matter. Probed from whichever side arrives last."""
        places = {k[1]: k[3] for k in ch.members if k[0] == "case" and k[2] == "place"}
        probes: list[tuple[str, str]] = []  # (city case, incident)
        city_nodes = {eid for (agency, kind, _rid), (_k, eid) in ch.links.items()
                      if (agency, kind) == ("city", "case")}
        city_cases = sorted(c for c in city_nodes if c in places)
        if city_cases:
            rows = await conn.fetch(
                "SELECT x.cid, pl.entity_id FROM unnest($1::text[], $2::text[]) AS x(cid, place)"
                " JOIN entity_member pl ON pl.relation = 'place' AND pl.member = x.place"
                " AND pl.entity_kind = 'case'"
                " JOIN entity_member esc ON esc.entity_kind = 'case'"
                " AND esc.entity_id = pl.entity_id AND esc.relation = 'escalation'"
                " AND esc.member = 'city'"
                " JOIN case_thread ct ON ct.case_id = pl.entity_id"
                " JOIN case_thread me ON me.case_id = x.cid"
                " WHERE ct.opened_at BETWEEN me.opened_at - interval '72 hours' AND me.opened_at",
                city_cases, [places[c] for c in city_cases])
            probes += [(r[0], r[1]) for r in rows]
        referred = sorted({k[1] for k in ch.members
                           if k[0] == "case" and k[2] == "escalation" and k[3] == "city"})
        if referred:
            rows = await conn.fetch(
                "SELECT pl.entity_id, x.inc FROM unnest($1::text[]) AS x(inc)"
                " JOIN entity_member inc_pl ON inc_pl.entity_kind = 'case'"
                " AND inc_pl.entity_id = x.inc AND inc_pl.relation = 'place'"
                " JOIN entity_member pl ON pl.relation = 'place' AND pl.member = inc_pl.member"
                " AND pl.entity_kind = 'case'"
                " JOIN record_link rl ON rl.entity_kind = 'case' AND rl.entity_id = pl.entity_id"
                " AND rl.agency = 'city' AND rl.kind = 'case'"
                " JOIN case_thread ct ON ct.case_id = pl.entity_id"
                " JOIN case_thread me ON me.case_id = x.inc"
                " WHERE ct.opened_at BETWEEN me.opened_at AND me.opened_at + interval '72 hours'",
                referred)
            probes += [(r[0], r[1]) for r in rows]
        out: list[Decision] = []
        for city_case, incident in sorted(set(probes)):
            comps = await components(conn, [city_case, incident], "case_edge")
            if incident in comps.get(city_case, []):
                continue  # already one thread
            row = await conn.fetchrow(
                "SELECT (SELECT opened_at FROM case_thread WHERE case_id = $1) AS c,"
                " (SELECT opened_at FROM case_thread WHERE case_id = $2) AS i,"
                " (SELECT member FROM entity_member WHERE entity_kind = 'case'"
                "  AND entity_id = $1 AND relation = 'place' LIMIT 1) AS place",
                city_case, incident)
            people = await conn.fetch(
                "SELECT entity_id, attrs->>'record' AS record FROM entity_member"
                " WHERE entity_kind = 'case' AND relation = 'person'"
                " AND entity_id = ANY($1::text[])", [city_case, incident])
            pc = await components(conn, [r["record"] for r in people])
            sides: dict[str, set[str]] = {}
            for r in people:
                sides.setdefault(r["entity_id"], set()).add(
                    canonical_node(pc.get(r["record"], [r["record"]])))
            shared = sorted(sides.get(city_case, set()) & sides.get(incident, set()))
            d = decide_referral(city_case, incident, row["place"],
                                (row["c"] - row["i"]).total_seconds() / 3600,
                                shared[0] if shared else None, row["c"])
            if d is not None:
                out.append(d)
        return out

    async def _decide_persons(self, conn: asyncpg.Connection, ch: Changes,
                              by_people: list[Decision]) -> list[Decision]:
        """The decisions that bring every region the batch touched to its persons
        (:mod:`projections.person_match`). They are applied here, in the batch's own
        transaction, so the next batch (of this worker or another) decides on them; read
        back from the log they are already known and change nothing, while a rebuild,
        which never decides, applies them in log order."""
        times = [v[0][0] for v in (*ch.mentions.values(), *ch.mention_places.values())]
        times += [d.time for d in by_people]
        if not times:
            return []
        touched = set(ch.mentions) | set(ch.mention_places)
        touched |= {x for d in by_people for x in (d.a, d.b)}
        made = await decide_persons(conn, touched, max(times), self.model)
        # as the log will carry them (scores rounded, times as written): a rebuild that
        # reads them back stores the same rows
        made = [parse_decision(orjson.dumps(d.event())) for d in made]
        await self._apply_parsed(conn, made)
        return made

    async def _archive(self, conn: asyncpg.Connection, accepted: list[Accepted]
                       ) -> tuple[list[Accepted], list[RejectedRecord]]:
        """Insert into the archive. Returns the events that were new (in log order), and the
        copies that reuse an archived (source, id) for different content (dead-lettered).

        A copy with the same content is the same event: nothing is applied again, and the
        archive keeps the lowest log position of its copies, so that which copy a worker
        happened to see first (partitions interleave freely) never shows in the read model.
        """
        if not accepted:
            return [], []
        rows = archive_rows(accepted)
        result = await conn.fetch(
            "INSERT INTO event_archive AS a (source, event_id, type, agency, time, subject, topic,"
            " partition, \"offset\", version, data, summary)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
            " $5::timestamptz[], $6::text[], $7::text[], $8::int[], $9::bigint[], $10::int[],"
            " $11::jsonb[], $12::text[])"
            " ON CONFLICT (source, event_id) DO UPDATE SET topic = excluded.topic,"
            " partition = excluded.partition, \"offset\" = excluded.\"offset\""
            " WHERE a.type = excluded.type AND a.data = excluded.data"
            " AND (excluded.topic, excluded.partition, excluded.\"offset\")"
            " < (a.topic, a.partition, a.\"offset\")"
            " RETURNING source, event_id, (xmax = 0) AS inserted",
            [a.env.source for a in rows], [a.env.id for a in rows], [a.env.type for a in rows],
            [a.env.agency for a in rows], [a.env.time for a in rows],
            [a.env.subject for a in rows], [a.topic for a in rows], [a.partition for a in rows],
            [a.offset for a in rows], [a.env.schema_version for a in rows],
            # What the agency sent, not the upcast shape: old events are never rewritten.
            [a.env.raw["data"] for a in rows], [a.summary for a in rows],
        )
        inserted = {(r["source"], r["event_id"]) for r in result if r["inserted"]}
        new = [a for a in accepted if a.env.key in inserted]
        others = [a for a in accepted if a.env.key not in inserted]
        conflicts: list[RejectedRecord] = []
        if others:
            existing = await conn.fetch(
                "SELECT source, event_id, type, data FROM event_archive"
                " WHERE (source, event_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
                [a.env.source for a in others], [a.env.id for a in others])
            known = {(r["source"], r["event_id"]): (r["type"], r["data"]) for r in existing}
            for a in others:
                if known.get(a.env.key) != (a.env.type, a.env.raw["data"]):
                    conflicts.append(RejectedRecord(
                        InboundRecord(a.topic, a.partition, a.offset, None, None),
                        "conflicting-duplicate",
                        f"source {a.env.source!r} already sent id {a.env.id!r} with other "
                        "content; an event id must not be reused", "id", a.env.id))
        return new, conflicts

    async def _links(self, conn: asyncpg.Connection, keys: set[tuple[str, str, str]]) -> Links:
        return await read_links(conn, keys)


    async def _write(self, conn: asyncpg.Connection, ch: Changes) -> None:
        if ch.mentions:
            mi = sorted(ch.mentions.items())
            await conn.execute(
                "INSERT INTO mention AS m (record, name, national_id, nid_valid, birth_date, phone,"
                " stamp, sound) SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
                " $4::bool[], $5::text[], $6::text[], $7::text[], $8::text[])"
                " ON CONFLICT (record) DO UPDATE SET name = excluded.name,"
                " national_id = excluded.national_id, nid_valid = excluded.nid_valid,"
                " birth_date = excluded.birth_date, phone = excluded.phone, stamp = excluded.stamp,"
                " sound = excluded.sound WHERE m.stamp IS NULL OR excluded.stamp > m.stamp",
                [k for k, _ in mi], [f.get("name") for _, (_, f) in mi],
                [f.get("national_id") for _, (_, f) in mi],
                [bool(f.get("nid_valid")) for _, (_, f) in mi],
                [f.get("birth_date") for _, (_, f) in mi], [f.get("phone") for _, (_, f) in mi],
                [stamp_text(st) for _, (st, _) in mi],
                [sound_key(f.get("name")) for _, (_, f) in mi])
        if ch.mention_places:
            pi = sorted(ch.mention_places.items())
            await conn.execute(
                "INSERT INTO mention AS m (record, place_id, place_stamp)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
                " ON CONFLICT (record) DO UPDATE SET place_id = excluded.place_id,"
                " place_stamp = excluded.place_stamp"
                " WHERE m.place_stamp IS NULL OR excluded.place_stamp > m.place_stamp",
                [k for k, _ in pi], [v for _, (_, v) in pi],
                [stamp_text(st) for _, (st, _) in pi])
        if ch.edges:
            await write_edges(conn, sorted(ch.edges), "national_id")
        nodes = {n for e in ch.edges for n in e} | set(ch.mentions) | set(ch.mention_places) | {
            e[1] for e in ch.entities if e[0] == "record"}
        if nodes:
            await write_nodes(conn, nodes)
        if ch.case_edges:
            ce = sorted(ch.case_edges.items())
            src = [a for (a, b), _ in ce] + [b for (a, b), _ in ce]
            dst = [b for (a, b), _ in ce] + [a for (a, b), _ in ce]
            origin = [o for _, o in ce] * 2
            await conn.execute(
                "INSERT INTO case_edge AS e (src, dst, origin) SELECT * FROM"
                " unnest($1::text[], $2::text[], $3::text[]) ORDER BY 1, 2"
                " ON CONFLICT (src, dst) DO UPDATE SET origin = " + ORIGIN_MERGE, src, dst, origin)
        if ch.cases:
            items2 = sorted(ch.cases.items())
            await conn.execute(
                "INSERT INTO case_thread (case_id, opened_at)"
                " SELECT * FROM unnest($1::text[], $2::timestamptz[])"
                " ON CONFLICT (case_id) DO UPDATE SET"
                " opened_at = LEAST(case_thread.opened_at, excluded.opened_at)",
                [k for k, _ in items2], [v for _, v in items2],
            )
        if ch.links:
            li = sorted(ch.links.items())
            await conn.execute(
                "INSERT INTO record_link (agency, kind, record_id, entity_kind, entity_id)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])"
                " ON CONFLICT (agency, kind, record_id) DO UPDATE SET"
                " entity_kind = excluded.entity_kind, entity_id = excluded.entity_id",
                [k[0] for k, _ in li], [k[1] for k, _ in li], [k[2] for k, _ in li],
                [v[0] for _, v in li], [v[1] for _, v in li],
            )
        if ch.fields:
            await self._stage(conn, "stage_field", [
                (k[0], k[1], k[2], _json(f.value), *f.stamp, f.agency)
                for k, f in ch.fields.items()])
            await conn.execute(
                "INSERT INTO entity_field (entity_kind, entity_id, field, value, time, source,"
                " event_id, agency) SELECT entity_kind, entity_id, field, value::jsonb, time,"
                " source, event_id, agency FROM stage_field ORDER BY 1, 2, 3"
                " ON CONFLICT (entity_kind, entity_id, field) DO UPDATE SET"
                " value = excluded.value, time = excluded.time, source = excluded.source,"
                " event_id = excluded.event_id, agency = excluded.agency"
                " WHERE (excluded.time, excluded.source, excluded.event_id)"
                " > (entity_field.time, entity_field.source, entity_field.event_id)")
        if ch.members:
            await self._stage(conn, "stage_member", [
                (k[0], k[1], k[2], k[3], _json(m.attrs), *m.stamp, m.agency)
                for k, m in ch.members.items()])
            await conn.execute(
                "INSERT INTO entity_member (entity_kind, entity_id, relation, member, attrs, time,"
                " source, event_id, agency) SELECT entity_kind, entity_id, relation, member,"
                " attrs::jsonb, time, source, event_id, agency FROM stage_member"
                " ORDER BY 1, 2, 3, 4"
                " ON CONFLICT (entity_kind, entity_id, relation, member) DO UPDATE SET"
                " attrs = excluded.attrs, time = excluded.time, source = excluded.source,"
                " event_id = excluded.event_id, agency = excluded.agency"
                " WHERE (excluded.time, excluded.source, excluded.event_id)"
                " < (entity_member.time, entity_member.source, entity_member.event_id)")
        if ch.entities:
            await self._stage(conn, "stage_entity", list(ch.entities))
            await conn.execute(
                "INSERT INTO event_entity (entity_kind, entity_id, time, source, event_id)"
                " SELECT * FROM stage_entity ORDER BY 1, 2, 3, 4, 5 ON CONFLICT DO NOTHING")

    async def _stage(self, conn: asyncpg.Connection, table: str,
                     records: list[tuple[Any, ...]]) -> None:
        """COPY rows into a staging table (created by ``_init_connection``, emptied at commit):
        binary COPY is far cheaper than encoding large parameter arrays. One INSERT … ON
        CONFLICT then merges them."""
        await conn.copy_records_to_table(table, records=records)

    async def _record_rejected(self, conn: asyncpg.Connection,
                               rejected: Sequence[RejectedRecord]) -> None:
        await conn.executemany(
            "INSERT INTO deadletter (topic, partition, \"offset\", key, value, reason, detail,"
            " field, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT DO NOTHING",
            [(r.record.topic, r.record.partition, r.record.offset, r.record.key,
              r.record.value or b"", r.reason, r.detail, r.field, r.event_id) for r in rejected],
        )


# Every table the projection writes (so a rebuild must reproduce), with its columns.
ANALYZE_FIRST = 2000
DEADLOCK_RETRIES = 5
EDGE_ACTIONS = frozenset({"link", "unlink", "reject"})
REBUILT_TABLES: dict[str, str] = {
    "event_archive": 'source, event_id, type, agency, time, subject, topic, partition, "offset",'
    " version, data, summary",
    "event_entity": "entity_kind, entity_id, time, source, event_id",
    "deadletter": 'topic, partition, "offset", key, value, reason, detail, field, event_id',
    "entity_field": "entity_kind, entity_id, field, value, time, source, event_id, agency",
    "entity_member": "entity_kind, entity_id, relation, member, attrs, time, source, event_id,"
    " agency",
    "record_link": "agency, kind, record_id, entity_kind, entity_id",
    "mention": "record, name, national_id, nid_valid, birth_date, phone, stamp, place_id,"
    " place_stamp, sound",
    "person_edge": "src, dst, origin",
    "case_edge": "src, dst, origin",
    "person_node": "person_id, node",
    "resolution_decision": "decision_id, action, a, b, score, evidence, decided_by, time",
    "case_thread": "case_id, opened_at",
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
