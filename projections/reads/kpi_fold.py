"""The KPI summary's fold (``kpi_case``, migration 032; see :mod:`projections.reads.kpi`):
the cases named by archive rows written since the last fold, judged again on all their
events. The workers run it every few seconds; the report is right without it (it replays
what is not folded), only slower."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import structlog

from projections.coordination.rules import Rules
from projections.reads.kpi import (
    ALL_CASES,
    CHANGED_CASES,
    COUNTS,
    FOLD_STATE,
    TYPES,
    key_of,
    per_case,
)

log = structlog.get_logger()

_EVENTS_OF = (
    "SELECT data->>'case_id' AS cid, type, time, event_id, data FROM event_archive"
    " WHERE agency = 'city' AND data->>'case_id' = ANY($1::text[]) AND type = ANY($2::text[])"
    " ORDER BY 1, time, source, event_id"
)
_UPSERT = (
    "INSERT INTO kpi_case (case_id, reported_at, last_at, key_grid, key_street, key_agency, "
    + ", ".join(COUNTS)
    + ") SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[],"
    " $5::text[], $6::text[], "
    + ", ".join(f"${i}::smallint[]" for i in range(7, 7 + len(COUNTS)))
    + ") ON CONFLICT (case_id) DO UPDATE SET "
    + ", ".join(
        f"{c} = excluded.{c}"
        for c in ("reported_at", "last_at", "key_grid", "key_street", "key_agency", *COUNTS)
    )
)
FOLD_CHUNK = 2000


FOLD_LOCK = 7_317_032  # the advisory lock one fold at a time holds


async def fold(pool: asyncpg.Pool, rules: Rules, wait: bool = False) -> int | None:
    """Judge again the cases named by archive rows written since the last fold (every case
    the first time, or under other rules); how many, or None when another fold is running
    (``wait``: wait for it instead).

    One fold at a time (an advisory lock, held by a transaction that only reads: it takes
    no transaction id, so it holds back neither the live feed nor the next fold's mark).
    The rows are written in short transactions of their own on a second connection, the
    mark last: a row written before the mark moves is of a case a newer archive row names,
    which the report replays until the mark passes it."""
    async with pool.acquire() as conn, pool.acquire() as w, conn.transaction():
        lock = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
        if await conn.fetchval(f"SELECT {lock}($1)", FOLD_LOCK) is False:
            return None
        state = await conn.fetchrow(FOLD_STATE)
        # Every row below this transaction id is committed (or never will be): folded now,
        # whatever order their transactions commit in. Rows at or above it are looked at
        # again next time (judging a case twice gives the same row).
        mark = await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
        since = state["mark"]
        if (state["rule_id"], state["rule_version"]) != (rules.id, rules.version):
            async with w.transaction():  # other rules: the report replays until folded
                await w.execute(
                    "UPDATE kpi_fold SET mark = NULL, rule_id = $1, rule_version = $2",
                    rules.id,
                    rules.version,
                )
                await w.execute("DELETE FROM kpi_case")
            since = None
        if since is None:
            found = await conn.fetch(ALL_CASES, TYPES)
        else:
            found = await conn.fetch(CHANGED_CASES, TYPES, since)
        cases = sorted(r[0] for r in found if r[0] is not None)
        for i in range(0, len(cases), FOLD_CHUNK):
            rows = await conn.fetch(_EVENTS_OF, cases[i : i + FOLD_CHUNK], TYPES)
            await _write(w, rows, rules)
        await w.execute("UPDATE kpi_fold SET mark = $1::text::xid8", mark)
    if since is None or len(cases) > FOLD_CHUNK:
        log.info("kpi.folded", cases=len(cases), full=since is None)
    return len(cases)


async def _write(conn: asyncpg.Connection, rows: list[asyncpg.Record], rules: Rules) -> None:
    last: dict[str, datetime] = {}
    for r in rows:
        last[r["cid"]] = max(r["time"], last.get(r["cid"], r["time"]))
    cols: list[list[Any]] = [[] for _ in range(6 + len(COUNTS))]
    for case, c, info in per_case(rows, rules):
        vals = (
            case,
            info.get("reported_at"),
            last[case],
            key_of("grid", info, rules),
            key_of("street", info, rules),
            key_of("agency", info, rules),
            *(getattr(c, f) for f in COUNTS),
        )
        for col, v in zip(cols, vals, strict=True):
            col.append(v)
    if cols[0]:
        await conn.execute(_UPSERT, *cols)
