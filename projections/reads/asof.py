"""As-of reads (contract section 8): the read model as the hub knew it at an instant.

The tables the reads touch are system-versioned (migration 052): each row knows when the
hub took in what wrote it (``known_from``), and an update or a delete keeps the row as it was
in ``<table>_history`` with ``known_to``. The schema ``<schema>_asof`` has a view per table,
under the table's own name, showing the versions in force at ``hub.as_of`` (facts and
timelines also filtered to the agencies' ``hub.happened_by``). :func:`as_of` opens a read-only
transaction with that schema first on the search path: every live read then answers as of
the instant, by the same SQL (so at now it is the live read).

A batch is stamped with its latest log time, so an instant inside a batch shows the batch
whole or not at all; an instant between the hub's commits shows exactly what it had.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

# The as-of schema beside the live one (the same name rule as migration 052), first on the
# search path for one transaction; the instants for the views.
_ENTER = (
    "SELECT set_config('search_path', quote_ident(left(current_schema(), 58) || '_asof')"
    " || ', ' || quote_ident(current_schema()), true),"
    " set_config('hub.as_of', $1::timestamptz::text, true),"
    " set_config('hub.happened_by', coalesce($2::timestamptz::text, ''), true)"
)


@dataclass(frozen=True)
class Instant:
    known_at: datetime
    happened_by: datetime | None = None

    def body(self) -> dict[str, Any]:
        """``as_of`` in an answer."""
        return {"known_at": self.known_at, "happened_by": self.happened_by}


@asynccontextmanager
async def as_of(pool: asyncpg.Pool, at: Instant) -> AsyncIterator[asyncpg.Connection]:
    """A connection on which every read answers as the hub knew it at ``at``: a read-only,
    repeatable-read transaction (one snapshot for all of a read's queries), rolled back."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(_ENTER, at.known_at, at.happened_by)
        yield conn


async def sealed_now(conn: asyncpg.Connection, thread_id: str) -> bool:
    """Whether the thread is sealed now (in an as-of transaction: the live sealing)."""
    return bool(await conn.fetchval("SELECT hub_sealed_now($1) = 'true'::jsonb", thread_id))


async def first_known(pool: asyncpg.Pool) -> datetime | None:
    """The earliest instant the archive knows of (for a slider's start)."""
    return await pool.fetchval(
        "SELECT min(known_from) FROM event_archive WHERE known_from > '-infinity'"
    )


# When the hub had taken an archived event in, as the as-of reads count it: its batch's
# instant (known_from; an as-of read at that instant shows it), or, for rows from before
# the versions existed, the log time of its record.
KNOWN_AT = "CASE WHEN {a}.known_from > '-infinity' THEN {a}.known_from ELSE {a}.known_at END"

# What the hub took in between two instants about some entities: the events that touched
# them (with their type and every entity each touched, for the reader's policy), and the
# resolution decisions that named them (agency "hub"), in the order taken in.
_WINDOW = (
    "SELECT a.event_id, a.agency, a.type, " + KNOWN_AT.format(a="a") + " AS known_at,"
    " a.known_from, a.data::text AS said,"
    " (SELECT array_agg(e.entity_kind || ':' || e.entity_id) FROM event_entity e"
    "  WHERE e.source = a.source AND e.event_id = a.event_id) AS touched"
    " FROM event_archive a"
    " WHERE (a.source, a.event_id) IN (SELECT source, event_id FROM event_entity"
    "  WHERE entity_kind = $1 AND entity_id = ANY($2::text[]))"
    " AND a.known_from > $3 AND a.known_from <= $4"
    " UNION ALL SELECT decision_id, 'hub', 'hub.resolution.' || action, known_from, known_from,"
    " concat_ws(' ', action, a, b, evidence::text), ARRAY['record:' || a, 'record:' || b]"
    " FROM resolution_decision WHERE (a = ANY($2::text[]) OR b = ANY($2::text[]))"
    " AND known_from > $3 AND known_from <= $4"
    " ORDER BY 5, 1"
)
NOT_DIFFED = frozenset({"as_of", "provenance"})
# Which of some events the reader may see (each row has its ``type`` and the entities it
# touched as ``kind:id``, in ``touched``).
Visible = Callable[[list[asyncpg.Record]], Awaitable[list[bool]]]


def _plain(view: dict[str, Any] | None) -> dict[str, Any]:
    """A read as its JSON says it (times as text), so two reads compare as their answers."""
    return orjson.loads(orjson.dumps(view or {}, option=orjson.OPT_UTC_Z))  # type: ignore[no-any-return]


def _strings(value: Any) -> set[str]:
    """The values a read's field states, and an agency record as its node (agency:kind:id)."""
    if isinstance(value, dict):
        out = {s for v in value.values() for s in _strings(v)}
        if {"agency", "kind", "id"} <= set(value):
            out.add(f"{value['agency']}:{value['kind']}:{value['id']}")
        return out
    if isinstance(value, list):
        return {s for v in value for s in _strings(v)}
    return {str(value)} if value is not None and value != "" else set()


def _introduced(e: asyncpg.Record, added: set[str]) -> bool:
    """Whether an event states one of the values a change added: it touched that entity, or
    its data says it."""
    touched = {t.partition(":")[2] for t in e["touched"] or []}
    return bool(touched & added) or any(len(s) >= 3 and s in e["said"] for s in added)


async def diff(
    pool: asyncpg.Pool | asyncpg.Connection,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    kind: str,
    entities: list[str],
    a: Instant,
    b: Instant,
    visible: Visible,
) -> list[dict[str, Any]]:
    """Each top-level field whose value differs between two reads, with the event that made
    the change, among those the hub took in between that the reader may see: the field's
    provenance, else the first that touched or stated a value the change added. A change no
    such event explains (a lapsed deadline, a value dropped, a change the reader may not see
    the cause of) names none."""
    old, new = _plain(before), _plain(after)
    changed = [k for k in sorted((set(old) | set(new)) - NOT_DIFFED) if old.get(k) != new.get(k)]
    if not changed:
        return []
    rows = await pool.fetch(_WINDOW, kind, entities, a.known_at, b.known_at)
    events = [e for e, seen in zip(rows, await visible(rows), strict=True) if seen]
    by_id = {e["event_id"]: e for e in events}
    provenance = new.get("provenance") or {}
    items = []
    for k in changed:
        cause = by_id.get((provenance.get(k) or {}).get("event_id"))
        if cause is None:
            added = _strings(new.get(k)) - _strings(old.get(k))
            cause = next((e for e in events if _introduced(e, added)), None)
        items.append(
            {
                "field": k,
                "before": old.get(k),
                "after": new.get(k),
                "event_id": cause["event_id"] if cause else None,
                "agency": cause["agency"] if cause else None,
                "known_at": cause["known_at"] if cause else None,
            }
        )
    return items
