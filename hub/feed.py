"""The command center's live feed: new cases, referrals, cases turning overdue, and the hub's
coordination notices (warned, urged, supervised, raised, bounced, diverted).

One poller per API process tails the event archive in commit order (by the transaction id
each row was written under, below the oldest transaction still running: so a row is never
skipped when two projector transactions commit out of order, and never seen twice) and asks
PostgreSQL, at each tick, which open cases' due time passed since the last tick. Overdue is
asked at a time, as everywhere in the hub: a case is announced when its due time passes
while it is open, or when an event arrives for a case already past due.

Items are kept in a ring buffer so a client that reconnects with ``Last-Event-ID`` misses
nothing that is still in the buffer; a new client gets the recent items first. Items carry
case facts only, never person ids; the API masks each item for its reader (sealed cases).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog

from hub.background import BackgroundLoop
from projections.coordination.handlers import NOTICE_TYPES
from projections.coordination.rules import Rules
from projections.reads.cases import case_facts, is_overdue
from projections.reads.sla import Verdict, threads_late
from projections.rows import read_links
from schemas.notices import NOTICE_AGENCY

log = structlog.get_logger("hub.feed")

# type → (agency, kind of record, the data field naming it, what the feed calls it)
TRACKED: dict[str, tuple[str, str, str, str | None]] = {
    "city.case.reported": ("city", "case", "case_id", "case"),
    "police.incident.reported": ("police", "incident", "incident_id", "case"),
    "police.case.opened": ("police", "case", "case_id", "case"),
    "court.case.filed": ("court", "case", "case_id", "case"),
    "city.case.escalated": ("city", "case", "case_id", "referral"),
    "police.incident.referred": ("police", "incident", "incident_id", "referral"),
}
# events that may leave a case past due: announce it then, not only when the clock passes
for _t in (
    "city.case.registered",
    "city.case.dispatched",
    "city.case.handled",
    "city.case.verified",
    "city.case.closed",  # closed without a passed verification: still due, maybe late
):
    TRACKED[_t] = ("city", "case", "case_id", None)
# the hub's own notices name the thread itself (data.case_id is the thread's id)
for _t in NOTICE_TYPES:
    TRACKED[_t] = (NOTICE_AGENCY, "case", "case_id", "notice")
# a sealing: items of the thread, sent from then on, are masked (whenever they were made)
TRACKED["court.case.sealed"] = ("court", "case", "case_id", None)

FACTS = ["category", "status", "stage", "due_at", "grid", "sealed"]
BUFFER = 500
# A notice is news while it is fresh: one that fell due longer ago than this (a backlog raised
# at start after an outage, or for history just loaded) is on hub.coordination, in the case's
# timeline and on the map's colours, not in the live feed.
FRESH = timedelta(minutes=15)
MAX_ROWS = 5000  # per tick; the rest is read at the next tick, nothing dropped
_ROWS = (
    "SELECT xid::text AS xid, time, agency, type, summary, data->>$3 AS ref1,"
    " data->>$4 AS ref2, data->>'to_agency' AS to_agency FROM event_archive"
    " WHERE xid >= $1::text::xid8 AND xid < $2::text::xid8 AND type = ANY($5)"
    " ORDER BY xid, time, source, event_id LIMIT $6"
)


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    kind: str  # case | referral | overdue | notice
    data: dict[str, Any]


class LiveFeed(BackgroundLoop):
    def __init__(
        self, pool: asyncpg.Pool, interval: float = 0.5, rules: Rules | None = None
    ) -> None:
        self.pool = pool
        # the coordination rules: a thread with a clock is overdue when its clock is red,
        # as every read says (projections.reads.sla.overdue)
        self.rules = rules
        self.interval = interval
        self.epoch = os.urandom(3).hex()  # ids of another process (or run) are not ours
        self.items: deque[Item] = deque(maxlen=BUFFER)
        self.counter = itertools.count(1)
        self.announced: set[str] = set()  # cases announced overdue (until they close)
        self.changed = asyncio.Condition()
        self.xid: int | None = None
        self.clock: datetime | None = None
        self.sealed_cases: set[str] = set()  # court case nodes sealed
        self.sealed_nodes: set[str] = set()  # every case node of their threads, now

    # -- the poller -------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be restarting: keep the feed alive
                log.exception("livefeed.tick_failed")
            await asyncio.sleep(self.interval)

    # -- one tick ---------------------------------------------------------------------------
    async def tick(self, now: datetime | None = None) -> list[Item]:
        now = now or datetime.now(UTC)
        async with self.pool.acquire() as conn:
            xmin = int(await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text"))
            if self.xid is None:  # start from now: what happened before is on the dashboard
                self.xid, self.clock = xmin, now
                self.sealed_cases = {
                    r[0]
                    for r in await conn.fetch(
                        "SELECT entity_id FROM entity_field WHERE entity_kind = 'case'"
                        " AND field = 'sealed' AND value = 'true'::jsonb"
                    )
                }
                await self._rethread_sealed(conn)
                return []
            rows = await conn.fetch(
                _ROWS, str(self.xid), str(xmin), "case_id", "incident_id", list(TRACKED), MAX_ROWS
            )
            upto = xmin
            if len(rows) == MAX_ROWS:  # more than a tick's worth: stop at a transaction edge
                last = int(rows[-1]["xid"])
                kept = [r for r in rows if int(r["xid"]) < last]
                if kept:
                    rows, upto = kept, last
                else:  # one transaction wrote them all: take all of it
                    rows = await conn.fetch(
                        _ROWS.replace(" LIMIT $6", ""),
                        str(last),
                        str(last + 1),
                        "case_id",
                        "incident_id",
                        list(TRACKED),
                    )
                    upto = last + 1
            refs: list[tuple[str, str, str | None]] = []
            for r in rows:
                agency, kind, field, _ = TRACKED[r["type"]]
                rid = r["ref1"] if field == "case_id" else r["ref2"]
                refs.append((agency, kind, rid))
            links = {
                k: eid
                for k, (kind, eid) in (
                    await read_links(conn, {r for r in refs if r[2] is not None})
                ).items()
                if kind == "case"
            }
            for ref in refs:
                if ref[0] == NOTICE_AGENCY and ref[2] is not None:
                    links[ref] = ref[2]
            self.sealed_cases |= {
                links[ref]
                for r, ref in zip(rows, refs, strict=True)
                if r["type"] == "court.case.sealed" and ref in links
            }
            await self._rethread_sealed(conn)
            due = await conn.fetch(
                "SELECT entity_id FROM entity_field WHERE entity_kind = 'case'"
                " AND field = 'due_at' AND hub_ts(value #>> '{}') > $1"
                " AND hub_ts(value #>> '{}') <= $2",
                self.clock,
                now,
            )
            case_ids = sorted({c for c in links.values() if c} | {r[0] for r in due})
            notice_only = (
                {c for k, c in links.items() if k[0] == NOTICE_AGENCY}
                - {c for k, c in links.items() if k[0] != NOTICE_AGENCY}
                - {r[0] for r in due}
            )
            facts = await case_facts(conn, case_ids, FACTS)
            late = await self._overdue(conn, [c for c in case_ids if c not in notice_only], now)
        new: list[Item] = []
        noticed: dict[str, Item] = {}  # one item per thread and tick for its notices
        for r, ref in zip(rows, refs, strict=True):
            cid = links.get(ref)
            what = TRACKED[r["type"]][3]
            if cid is None or what is None:
                continue
            if what == "notice" and r["time"] < now - FRESH:
                continue
            if what == "notice" and cid in noticed:
                # a backlog (notices that fell due while the hub was down) is one line a case
                item = noticed[cid]
                item.data.update(type=r["type"], time=r["time"], summary=r["summary"])
                item.data["types"].append(r["type"])
                if r["to_agency"]:
                    item.data["to_agency"] = r["to_agency"]
                continue
            data = {
                "case_id": cid,
                "type": r["type"],
                "agency": r["agency"],
                "time": r["time"],
                "summary": r["summary"],
                **{k: facts.get(cid, {}).get(k) for k in ("category", "grid", "sealed")},
            }
            if what == "referral" or (what == "notice" and r["to_agency"]):
                data["to_agency"] = r["to_agency"]
            if what == "notice":
                data["types"] = [r["type"]]
            new.append(self._item(what, data))
            if what == "notice":
                noticed[cid] = new[-1]
        for cid in case_ids:
            if cid in notice_only:  # a notice is no news of the case's own due time
                continue
            f = facts.get(cid, {})
            judged = late.get(cid)  # as every read states the thread (its clock's status)
            status = judged.status if judged else f.get("status") or "open"
            if status == "closed" or (judged and not judged.matter):
                self.announced.discard(cid)
            elif cid not in self.announced and (
                judged.overdue if judged else is_overdue(f.get("due_at"), status, now)
            ):
                self.announced.add(cid)
                new.append(
                    self._item(
                        "overdue",
                        {
                            "case_id": cid,
                            "due_at": judged.due_at if judged else f.get("due_at"),
                            "stage": (
                                judged.stage(f.get("stage"), f.get("status"))
                                if judged
                                else f.get("stage")
                            ),
                            **{k: f.get(k) for k in ("category", "grid", "sealed")},
                        },
                    )
                )
        self.xid, self.clock = upto, now
        if new:
            async with self.changed:
                self.items.extend(new)
                self.changed.notify_all()
        return new

    async def _overdue(
        self, conn: asyncpg.Connection, case_ids: list[str], now: datetime
    ) -> dict[str, Verdict]:
        """Each case's thread as the reads state it (:func:`projections.reads.sla.judge`):
        ``overdue`` (its clock, where the hub keeps one), the due instant it is judged by,
        its status; cases with no thread row are left to their own due time."""
        if self.rules is None or not case_ids:
            return {}
        thread_of = {
            r[0]: r[1]
            for r in await conn.fetch(
                "SELECT case_id, thread_id FROM case_thread WHERE case_id = ANY($1::text[])",
                case_ids,
            )
        }
        by_thread = await threads_late(conn, set(thread_of.values()), self.rules, now)
        return {c: by_thread[t] for c, t in thread_of.items()}

    async def _rethread_sealed(self, conn: asyncpg.Connection) -> None:
        """The case nodes of every sealed thread as threads stand now (a thread joined to a
        sealed one after the sealing is sealed too)."""
        if self.sealed_cases:
            self.sealed_nodes = {
                r[0]
                for r in await conn.fetch(
                    "SELECT case_id FROM case_thread WHERE thread_id IN (SELECT thread_id"
                    " FROM case_thread WHERE case_id = ANY($1::text[]))",
                    sorted(self.sealed_cases),
                )
            } | self.sealed_cases

    def sealed_now(self, case_id: str | None) -> bool:
        return case_id in self.sealed_nodes

    def _item(self, kind: str, data: dict[str, Any]) -> Item:
        return Item(next(self.counter), kind, data)

    # -- readers ------------------------------------------------------------------------------
    def parse_last_id(self, last: str | None) -> int:
        """Items after ``Last-Event-ID`` if it is one of ours, else the recent buffer."""
        if last:
            epoch, _, n = last.partition("-")
            if epoch == self.epoch and n.isdigit():
                return int(n)
        return 0

    async def follow(self, after: int, heartbeat: float = 15.0) -> AsyncIterator[list[Item]]:
        """Batches of items with ids above ``after``, as they come; an empty batch every
        ``heartbeat`` seconds so proxies and clients see the stream is alive."""
        while True:
            batch = [i for i in self.items if i.id > after]
            if batch:
                after = batch[-1].id
                yield batch
                continue
            async with self.changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), heartbeat)
            if not any(i.id > after for i in self.items):
                yield []
