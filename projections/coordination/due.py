"""Notices raised exactly once (CONTRACT.md section 7): each thread's next due instant,
kept by the projector, and the sweep that raises what fell due.

- :func:`refresh_due` runs inside :meth:`projections.store.Store.apply_batch` for the threads
  the batch touched (a clock mark, or threads joined): it locks their ``thread_due`` rows
  first, then reads their marks and claims, so two batches of one thread never write a due
  instant computed without the other's marks.
- :func:`sweep` takes the rows that fell due (``FOR UPDATE SKIP LOCKED``: two workers take
  different threads), computes the notices due by now from the clock, claims their ids
  (insert if absent), hands the new ones to ``send`` (the worker produces them and waits for
  the broker's acks) and only then moves the rows on and commits. A crash between the acks
  and the commit sends the same ids again; the archive keeps one per ``(source, id)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from projections.changes import Changes
from projections.coordination.clock import marks_of
from projections.coordination.handlers import MARK
from projections.coordination.notices import Notice, raised_by
from projections.coordination.rules import Rules

NoticeSink = Callable[[Sequence[Notice]], Awaitable[None]]
# The wall-clock sweep raises nothing of a thread a batch touched in the last few seconds:
# an agency (or a test) publishing a matter's history in quick batches, in any order, has
# its events read as one before the clock of a part of them raises a notice that the rest
# would have said was not due (a report whose registration comes in the next batch). It
# delays a notice only when its thread's events arrive as it falls due.
SETTLE = timedelta(seconds=3)

# A thread's marks, and its claims: those under its id and those under each of its nodes'
# ids (a thread is named by its oldest node, so every id it had is one of its nodes).
_STATE = (
    "SELECT t.thread_id, m.attrs, m.time, m.event_id, NULL AS slot FROM case_thread t"
    " JOIN entity_member m ON m.entity_kind = 'case' AND m.entity_id = t.case_id"
    " AND m.relation = $2 WHERE t.thread_id = ANY($1::text[])"
    " UNION ALL SELECT thread_id, NULL, NULL, notice_id, slot FROM notice_claim"
    " WHERE thread_id = ANY($1::text[])"
    " UNION ALL SELECT t.thread_id, NULL, NULL, c.notice_id, c.slot FROM case_thread t"
    " JOIN notice_claim c ON c.thread_id = t.case_id AND c.thread_id <> t.thread_id"
    " WHERE t.thread_id = ANY($1::text[])"
)
# The due rows of ids the threads had before (their other nodes'), taken before their claims
# are read: a sweep still sending notices under an old id commits its claims first.
_FORMER = (
    "SELECT d.thread_id FROM thread_due d JOIN case_thread t ON t.case_id = d.thread_id"
    " WHERE t.thread_id = ANY($1::text[]) AND d.thread_id <> ALL($1::text[])"
    " ORDER BY d.thread_id FOR UPDATE OF d"
)
_MOVE = (
    "UPDATE thread_due d SET due_at = x.d FROM unnest($1::text[], $2::timestamptz[]) AS x(t, d)"
    " WHERE d.thread_id = x.t AND d.due_at IS DISTINCT FROM x.d"
)


@dataclass
class ThreadState:
    marks: list[dict[str, Any]] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)  # notice ids
    slots: set[str] = field(default_factory=set)  # what they were (Notice.slot)


async def thread_states(conn: asyncpg.Connection, threads: Sequence[str]) -> dict[str, ThreadState]:
    """Each thread's clock marks and its notices already raised (under any id it had)."""
    out = {t: ThreadState() for t in threads}
    for r in await conn.fetch(_STATE, list(threads), MARK):
        st = out.setdefault(r["thread_id"], ThreadState())
        if r["attrs"] is None:
            st.claimed.add(r["event_id"])
            if r["slot"]:
                st.slots.add(r["slot"])
        else:
            st.marks.append({"attrs": r["attrs"], "time": r["time"], "event_id": r["event_id"]})
    return out


def pending(thread_id: str, st: ThreadState, rules: Rules) -> list[Notice]:
    """The thread's notices not raised yet (by id, or by slot under an id it had before),
    earliest due first; each as its clock was known when it fell due (:func:`raised_by`)."""
    return [
        n
        for n in raised_by(thread_id, marks_of(st.marks), rules)
        if n.id not in st.claimed and n.slot not in st.slots
    ]


def touched_nodes(ch: Changes, joined: Sequence[str] = ()) -> list[str]:
    """Case nodes whose thread's clock a batch may have moved: new marks, joined threads
    (by the agencies' refs, or ``joined`` by referral decisions)."""
    nodes = {k[1] for k in ch.members if k[0] == "case" and k[2] == MARK}
    nodes.update(n for e in ch.case_edges for n in e)
    nodes.update(joined)
    return sorted(nodes)


async def refresh_due(
    conn: asyncpg.Connection, ch: Changes, rules: Rules, joined: Sequence[str] = ()
) -> int:
    """Recompute ``thread_due`` for the threads the batch touched; returns how many."""
    nodes = touched_nodes(ch, joined)
    if not nodes:
        return 0
    rows = await conn.fetch(
        # clock_timestamp() per row after the DISTINCT: a volatile column inside it would
        # keep a thread twice (and ON CONFLICT cannot touch a row twice)
        "INSERT INTO thread_due AS d (thread_id, touched_at)"
        " SELECT t, clock_timestamp() FROM (SELECT DISTINCT thread_id AS t FROM case_thread"
        " WHERE case_id = ANY($1::text[]) AND thread_id IS NOT NULL) x ORDER BY 1"
        " ON CONFLICT (thread_id) DO UPDATE SET touched_at = clock_timestamp()"
        " RETURNING thread_id",
        nodes,
    )
    threads = sorted(r[0] for r in rows)
    if not threads:
        return 0
    states = await thread_states(conn, threads)
    dues = [min((n.due for n in pending(t, states[t], rules)), default=None) for t in threads]
    await conn.execute(_MOVE, threads, dues)
    return len(threads)


async def sweep(
    pool: asyncpg.Pool,
    rules: Rules,
    send: NoticeSink,
    now: datetime | None = None,
    limit: int = 200,
    settle: timedelta | None = None,
) -> list[Notice]:
    """Raise every notice due by ``now`` (the wall clock, or the event-time watermark's
    :func:`~projections.coordination.watermark.sweep_instant`) not raised before, its claim
    stamped with ``now``; returns those this call raised. ``settle`` (the wall-clock sweep):
    a thread a batch touched less than this long ago waits (:data:`SETTLE`), both instants
    by the database's clock."""
    now = now or datetime.now(UTC)
    raised: list[Notice] = []
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT thread_id FROM thread_due WHERE due_at IS NOT NULL AND due_at <= $1"
                " AND ($3::interval IS NULL OR touched_at IS NULL"
                " OR touched_at <= clock_timestamp() - $3::interval)"
                " ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                now,
                limit,
                settle,
            )
            threads = [r[0] for r in rows]
            if not threads:
                return raised
            await conn.execute(_FORMER, threads)
            states = await thread_states(conn, threads)
            due: list[Notice] = []
            later: list[datetime | None] = []
            for t in threads:
                ns = pending(t, states[t], rules)
                due += [n for n in ns if n.due <= now]
                later.append(min((n.due for n in ns if n.due > now), default=None))
            new: list[Notice] = []
            if due:
                got = await conn.fetch(
                    "INSERT INTO notice_claim (notice_id, thread_id, type, due_at, slot,"
                    " swept_at) SELECT *, $6::timestamptz FROM unnest($1::text[], $2::text[],"
                    " $3::text[], $4::timestamptz[], $5::text[]) ORDER BY 1"
                    " ON CONFLICT DO NOTHING RETURNING notice_id",
                    [n.id for n in due],
                    [n.case_id for n in due],
                    [n.type for n in due],
                    [n.due for n in due],
                    [n.slot for n in due],
                    now,
                )
                ids = {r[0] for r in got}
                new = [n for n in due if n.id in ids]
                if new:
                    await send(new)  # acknowledged by the broker before the claims commit
            await conn.execute(_MOVE, threads, later)
        raised += new
        if len(threads) < limit:
            return raised
