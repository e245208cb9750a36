"""The KPI report (CONTRACT.md section 7; ``GET /v1/reports/kpi``, ``civic-hub report kpi``):
per grid, owning agency or street, over a window, how the city's cases were handled.

Computed from the event archive alone, never from the read model's current state: the
cases are the city cases first reported in ``[from, to)``, and each is judged on its own
events with times before ``to`` (as known at the end of the window), its clock replayed
under the rules (:mod:`projections.coordination.clock`). So any past window can be
recomputed, and gives the same answer however often it is asked.

Replaying every clock costs ~75 µs a case (a year of a 1.14M-event city: ~94,000 cases, 7
s), so the report sums a summary instead (``kpi_case``, migration 032): each case judged
once on all its events, kept by :mod:`projections.reads.kpi_fold` (the workers fold every
few seconds the cases named by archive rows written since the last fold: ``event_archive.
xid``, as the live feed reads them). In one snapshot, :func:`kpi` sums the rows of cases
whose every event lies before ``to`` and that no row after the fold names, and replays the
rest from the archive (:func:`replayed` is the same replay for every case: the reference
the tests and the benchmark compare with). Same judge, same events: the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from projections.coordination.clock import Mark, thread_clock
from projections.coordination.rules import Rules

log = structlog.get_logger()

KEYS = ("grid", "agency", "street")
STREET_DIGITS = 9  # district (6) + street (3) of a grid code
UNKNOWN = "unknown"

# What each count and rate means: the OpenAPI description is made from this.
FORMULAS: dict[str, str] = {
    "received": "city cases whose first city.case.reported falls in [from, to)",
    "responded_on_time": "received cases registered (city.case.registered) by the register"
    " limit, in working time from the case's own first city.case.reported (a 110 call joined"
    " to its thread earlier is not counted here; the thread's notices run from the call)",
    "solved": "received cases with a passed verification (city.case.verified, passed)",
    "closed": "received cases closed (city.case.closed) before `to` and not reopened since,"
    " as the city recorded it: a close without a passed verification counts here (and never"
    " as closed_on_time), though the case reads `open`, its verify stage still due",
    "closed_on_time": "closed cases closed after a passed verification (verification before"
    " closing), both by their clock's due instant (limits from the report, moved by approved"
    " extensions and reopenings)",
    "followed_up": "received cases with a follow-up (city.feedback.recorded)",
    "satisfied": "followed-up cases whose latest follow-up says satisfied",
    "rework": "received cases reopened at least once (a failed verification, or a"
    " dissatisfied follow-up after the case was closed)",
    "extended": "received cases with at least one approved extension (city.case.extended)",
    "bounced": "received cases returned (city.case.returned) at least as often as the"
    " rules' bounce threshold",
    "solved_lowest_level": "solved cases whose category belongs to the lowest level of the"
    " ladder and that no rule raised a level before they were solved",
    "response_rate": "responded_on_time ÷ received",
    "solve_rate": "solved ÷ received",
    "on_time_close_rate": "closed_on_time ÷ closed",
    "satisfaction_rate": "satisfied ÷ followed_up",
    "rework_rate": "rework ÷ received",
    "lowest_level_share": "solved_lowest_level ÷ solved",
}
_RATES = {
    "response_rate": ("responded_on_time", "received"),
    "solve_rate": ("solved", "received"),
    "on_time_close_rate": ("closed_on_time", "closed"),
    "satisfaction_rate": ("satisfied", "followed_up"),
    "rework_rate": ("rework", "received"),
    "lowest_level_share": ("solved_lowest_level", "solved"),
}


# The received cases (first report in [$1, $2); with ``only``, those among $4), each with its
# events before $2, in the order the clock reads them.
def _cases(only: bool) -> str:
    among = " AND data->>'case_id' = ANY($4::text[])" if only else ""
    return (
        "WITH r AS MATERIALIZED (SELECT data->>'case_id' AS cid"
        " FROM event_archive WHERE type = 'city.case.reported' AND agency = 'city'"
        f" AND time < $2{among} GROUP BY 1 HAVING min(time) >= $1)"
        " SELECT r.cid, a.type, a.time, a.event_id, a.data FROM r JOIN event_archive a"
        " ON a.agency = 'city' AND a.data->>'case_id' = r.cid AND a.time < $2"
        " AND a.type = ANY($3::text[]) ORDER BY r.cid, a.time, a.source, a.event_id"
    )


_DONE = {
    "city.case.registered": "register",
    "city.case.dispatched": "dispatch",
    "city.case.handled": "handle",
    "city.case.closed": "close",
}
TYPES = [
    "city.case.reported",
    *_DONE,
    "city.case.verified",
    "city.case.returned",
    "city.case.extended",
    "city.feedback.recorded",
]


@dataclass
class Counts:
    received: int = 0
    responded_on_time: int = 0
    solved: int = 0
    closed: int = 0
    closed_on_time: int = 0
    followed_up: int = 0
    satisfied: int = 0
    rework: int = 0
    extended: int = 0
    bounced: int = 0
    solved_lowest_level: int = 0

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def report(self, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {"key": key, **{f.name: getattr(self, f.name) for f in fields(self)}}
        for rate, (num, den) in _RATES.items():
            out[rate] = round(out[num] / out[den], 4) if out[den] else None
        return out


def _marks(events: Iterable[asyncpg.Record | dict[str, Any]]) -> tuple[list[Mark], dict[str, Any]]:
    """The clock marks of one city case's events (as the projector's handlers make them),
    and what the report needs besides: its grid and category, its follow-ups."""
    marks: list[Mark] = []
    info: dict[str, Any] = {"feedback": [], "solved_at": None, "registered_at": None}
    reported: list[datetime] = []
    for e in events:
        t, d, eid, at = e["type"], e["data"], e["event_id"], e["time"]
        if t == "city.case.reported":
            info.setdefault("grid", (d.get("address") or {}).get("grid"))
            info.setdefault("category", d.get("category"))
            reported.append(at)
            marks.append(Mark(at, eid, "report", {"agency": "city", "category": d["category"]}))
        elif t in _DONE:
            marks.append(Mark(at, eid, "done", {"stage": _DONE[t]}))
            if t == "city.case.registered" and info["registered_at"] is None:
                info["registered_at"] = at
        elif t == "city.case.verified":
            if d.get("passed"):
                marks.append(Mark(at, eid, "done", {"stage": "verify"}))
                info["solved_at"] = info["solved_at"] or at
            else:
                marks.append(Mark(at, eid, "reopen", {"why": "verification"}))
        elif t == "city.case.returned":
            marks.append(Mark(at, eid, "return", {}))
        elif t == "city.case.extended":
            marks.append(Mark(at, eid, "extend", {"due_at": d["due_at"]}))
        elif t == "city.feedback.recorded":
            info["feedback"].append(bool(d.get("satisfied")))
            if not d.get("satisfied"):  # reopens the case only once it was closed
                marks.append(Mark(at, eid, "reopen", {"why": "feedback"}))
    info["reported_at"] = min(reported, default=None)
    return sorted(marks), info


def judge(case_id: str, events: list[Any], rules: Rules) -> tuple[Counts, dict[str, Any]]:
    """One received case's counts (each 0 or 1) and its grid and category."""
    marks, info = _marks(events)
    tc = thread_clock(marks, rules)
    c = Counts(received=1)
    cal = rules.calendar
    if tc.started_at is not None and info["registered_at"] is not None:
        limit = rules.limits(tc.category)[rules.stages[0]].span(cal)
        c.responded_on_time = int(info["registered_at"] <= cal.add(tc.started_at, limit))
    c.solved = int(info["solved_at"] is not None)
    c.closed = int(tc.close_recorded_at is not None)
    # closed on time: closed after a passed verification, by the clock's due instant
    c.closed_on_time = int(
        tc.closed_at is not None and tc.close_due is not None and tc.closed_at <= tc.close_due
    )
    c.followed_up = int(bool(info["feedback"]))
    c.satisfied = int(bool(info["feedback"]) and info["feedback"][-1])
    c.rework = int(tc.rework > 0)
    c.extended = int(tc.extensions > 0)
    c.bounced = int(tc.returns >= rules.bounced_at)
    if c.solved:
        cat = rules.category(tc.category)
        lowest = (cat.level if cat else rules.levels[0]) == rules.levels[0]
        # raised by then: a stage done after its raising instant, or the bounce rule (the
        # clock of the marks up to the solving, as the ladder knew it then)
        then = thread_clock([m for m in marks if m.at <= info["solved_at"]], rules, False)
        c.solved_lowest_level = int(lowest and then.raised_to == then.level)
    return c, info


def key_of(by: str, info: dict[str, Any], rules: Rules) -> str:
    grid = info.get("grid")
    if by == "grid":
        return grid or UNKNOWN
    if by == "street":
        return grid[:STREET_DIGITS] if grid and len(grid) >= STREET_DIGITS else UNKNOWN
    cat = rules.category(info.get("category"))
    return cat.agency if cat else "city"


def per_case(
    rows: Iterable[asyncpg.Record], rules: Rules
) -> Iterable[tuple[str, Counts, dict[str, Any]]]:
    """Each case's judgement, from rows ordered by case (``cid`` first)."""
    case: str | None = None
    events: list[Any] = []
    for r in rows:
        if r["cid"] != case:
            if case is not None and events:
                yield case, *judge(case, events, rules)
            case, events = r["cid"], []
        events.append(r)
    if case is not None and events:
        yield case, *judge(case, events, rules)


def _check(by: str) -> None:
    if by not in KEYS:
        raise ValueError(f"by must be one of {', '.join(KEYS)}, got {by!r}")


def _answer(
    by: str, start: datetime, end: datetime, rules: Rules, per: dict[str, Counts]
) -> dict[str, Any]:
    total = Counts()
    for c in per.values():
        total.add(c)
    return {
        "by": by,
        "from": start,
        "to": end,
        "rule": rules.cite,
        "items": [per[k].report(k) for k in sorted(per)],
        "total": total.report("*"),
    }


async def _replay(
    conn: asyncpg.Pool | asyncpg.Connection,
    rules: Rules,
    start: datetime,
    end: datetime,
    by: str,
    per: dict[str, Counts],
    only: list[str] | None = None,
) -> int:
    """Replay the received cases (``only`` these, when given) into ``per``; how many."""
    n = 0
    args = (start, end, TYPES, only) if only is not None else (start, end, TYPES)
    for _, c, info in per_case(await conn.fetch(_cases(only is not None), *args), rules):
        per.setdefault(key_of(by, info, rules), Counts()).add(c)
        n += 1
    return n


async def replayed(
    conn: asyncpg.Pool | asyncpg.Connection, rules: Rules, start: datetime, end: datetime, by: str
) -> dict[str, Any]:
    """The report with every received case's clock replayed from the archive: the reference
    :func:`kpi` must equal (tests, ``bench/kpi.py``)."""
    _check(by)
    per: dict[str, Counts] = {}
    await _replay(conn, rules, start, end, by, per)
    return _answer(by, start, end, rules, per)


# -- the summary ----------------------------------------------------------------------------
COUNTS = tuple(f.name for f in fields(Counts))
_KEY_COLUMN = {"grid": "key_grid", "street": "key_street", "agency": "key_agency"}
ALL_CASES = (
    "SELECT DISTINCT data->>'case_id' FROM event_archive WHERE agency = 'city'"
    " AND type = ANY($1::text[])"
)
CHANGED_CASES = (  # the mark travels as text: xid8 has no codec in asyncpg
    "SELECT DISTINCT data->>'case_id' FROM event_archive WHERE agency = 'city'"
    " AND type = ANY($1::text[]) AND xid >= $2::text::xid8"
)
FOLD_STATE = "SELECT mark::text AS mark, rule_id, rule_version FROM kpi_fold"


def _summed(by: str) -> str:
    key = _KEY_COLUMN[by]
    return (
        f"SELECT {key} AS key, "
        + ", ".join(f"sum({c})::int AS {c}" for c in COUNTS)
        + " FROM kpi_case WHERE reported_at >= $1 AND reported_at < $2 AND last_at < $2"
        f" AND case_id <> ALL($3::text[]) GROUP BY {key}"
    )


async def kpi(
    db: asyncpg.Pool | asyncpg.Connection, rules: Rules, start: datetime, end: datetime, by: str
) -> dict[str, Any]:
    """``{items: [{key, counts…, rates…}], total: {…}}`` for cases received in [start, end):
    the summary's sums where it holds the case as the window knows it, the archive's replay
    where not (see the module's note). Read-only: the API's role may ask it."""
    _check(by)
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await _kpi(conn, rules, start, end, by)
    return await _kpi(db, rules, start, end, by)


async def _kpi(
    conn: asyncpg.Connection, rules: Rules, start: datetime, end: datetime, by: str
) -> dict[str, Any]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        state = await conn.fetchrow(FOLD_STATE)
        if (
            state is None
            or state["mark"] is None
            or (state["rule_id"], state["rule_version"]) != (rules.id, rules.version)
        ):
            log.info("kpi.replayed", reason="no summary under these rules yet")
            return await replayed(conn, rules, start, end, by)
        changed = [r[0] for r in await conn.fetch(CHANGED_CASES, TYPES, state["mark"]) if r[0]]
        per: dict[str, Counts] = {}
        for r in await conn.fetch(_summed(by), start, end, changed):
            per[r["key"]] = Counts(**{c: r[c] for c in COUNTS})
        late = await conn.fetch(
            "SELECT case_id FROM kpi_case WHERE reported_at >= $1 AND reported_at < $2"
            " AND last_at >= $2 AND case_id <> ALL($3::text[])",
            start,
            end,
            changed,
        )
        again = [r[0] for r in late] + changed
        if again:
            await _replay(conn, rules, start, end, by, per, again)
    return _answer(by, start, end, rules, per)
