"""Case threads: one thread per matter across agencies, and its timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import Depends, Query
from fastapi.responses import Response

from hub.api.context import ReadContext, answer, reader, v1_router
from hub.api.coordination import RulesInForce
from hub.api.params import CaseId, GridCode
from hub.api.problems import Problem
from projections.coordination.rules import Rules
from projections.reads import asof as asof_reads
from projections.reads import cases as cases_reads
from projections.reads import grids as grids_reads
from projections.reads import sla as sla_reads

router = v1_router(tags=["cases"])
CaseReader = Annotated[ReadContext, Depends(reader("case"))]

EXAMPLE_CASE = {
    "case_id": "C-3f0c1d2e4b5a6978",
    "refs": [{"agency": "city", "kind": "case", "id": "C-2026-000042"}],
    "category": "neighbour-dispute",
    "status": "open",
    "stage": "dispatched",
    "due_at": "2026-11-24T08:00:00+08:00",
    "overdue": False,
    "sla": {
        "stage": "handle",
        "due_at": "2026-11-24T10:00:00+08:00",
        "level": "yellow",
        "agency": "city",
    },
    "awaiting_report": False,
    "returns": 0,
    "rework": 0,
    "grid": "110105001001",
    "persons": [{"person_id": "P-a92b61bb612f4cc6", "role": "reporter", "agency": "city"}],
    "places": [{"place_id": "PL-ac20ecaf42b1cc60", "text": "朝阳区某路1号"}],
}


def _persons_of(case: dict[str, Any]) -> list[str]:
    return sorted({p["person_id"] for p in case.get("persons", []) if p["person_id"]})


def _persons_of_all(cases: list[dict[str, Any]]) -> list[str]:
    return sorted({p for c in cases for p in _persons_of(c)})


OVERDUE = (
    "`overdue` is asked at read time and means the same in every read (the case, this list "
    "and its `overdue` filter, the grid board and map, a person's `cases[]`): an open thread "
    "whose `sla.level` is `red` on the hub's clock (CONTRACT.md section 7: from the first "
    "report, under the rules in force, moved by approved extensions and mediations); for a "
    "thread the hub keeps no clock for (`sla` null: a police matter), an open thread whose "
    "agency's `due_at` has passed. A closed thread is never overdue.\n\n"
    "`status` is `closed` only when no stage is in force on the hub's clock: a matter is "
    "closed after a passed verification (`city.case.verified` with `passed` true before "
    "`city.case.closed`), so a city case closed without one reads `open`, its `stage` the "
    "last one done, its `sla` the `verify` stage (overdue once red), and counts as open on "
    "the grid board and map (the KPI counts that close in `closed`, never in "
    "`closed_on_time`). `sla.agency` names who holds the stage timed: the court (`mediate`) "
    "while a mediation of the thread is open (`court.mediation.assigned`, not concluded), "
    "the category's owner otherwise; a settled mediation leaves the city's stage timed until "
    "the city closes its case.\n\n"
    "A thread that holds only returns, extensions or follow-ups of a case no report, "
    "registration, 110 call, police case, court filing or mediation was seen for is no "
    "matter yet: it reads by id with `awaiting_report: true`, `sla` null and `overdue` "
    "false, and is neither listed here nor counted on the grid board and map; once its "
    "report arrives it reads as if the events had come in order (`awaiting_report` false)."
)

SCAN_CHUNK = 200  # candidate threads read per round
MAX_SCAN = 2000  # threads read for one page at most; then the page ends with a cursor


@router.get(
    "/v1/cases",
    summary="Find case threads by grid, status, stage, category, agency, overdue (cursor pages)",
    description="Each item is the thread as `GET /v1/cases/{case_id}` answers it (the same "
    "id, refs, stage, status, persons, overdue), masked by the same policy; every filter "
    "applies to the thread's own values as the reader may see them. A page may hold fewer "
    "than `limit` items when `next` is not null.\n\n" + OVERDUE,
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "items": [
                            {
                                "case_id": "C-3f0c1d2e4b5a6978",
                                "category": "noise",
                                "status": "open",
                                "stage": "dispatched",
                                "due_at": "2026-11-24T08:00:00+08:00",
                                "overdue": False,
                                "grid": "11010500100101",
                            }
                        ],
                        "next": "C-3f0c1d2e4b5a6978",
                    }
                }
            }
        }
    },
)
async def find_cases(
    ctx: CaseReader,
    rules: RulesInForce,
    grid: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z-]{2,32}$")] = None,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
    stage: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    agency: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]*$")] = None,
    overdue: Annotated[bool | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    filters = {
        k: v
        for k, v in (("grid", grid), ("status", status), ("stage", stage), ("category", category))
        if v is not None
    }
    drive = {k: v for k, v in filters.items() if (k, v) != ("status", "open")}  # open: no fact
    at = datetime.now(UTC)
    items: list[dict[str, Any]] = []
    after, scanned = cursor, 0
    while True:
        ids = await cases_reads.candidate_threads(ctx.pool, drive, agency, after, SCAN_CHUNK)
        for tid in ids:
            after, scanned = tid, scanned + 1
            c = await cases_reads.case(ctx.pool, tid, at)
            if c is None or c["case_id"] != tid:
                continue  # joined into an older thread since: listed under that one's id
            await sla_reads.add_sla(ctx.pool, [c], rules, at)
            if c["awaiting_report"]:
                continue  # no matter yet: a return, extension or follow-up of an unknown case
            shown, masked = ctx.policy.mask_case(ctx.principal, c)
            if masked and shown.get("status") == "restricted":
                continue  # a thread withheld whole is not listed: not even its id
            if cases_reads.matches(shown, filters, agency, overdue):
                items.append(shown)
                if len(items) > limit:
                    await ctx.done(_persons_of_all(items[:limit]))
                    return {"items": items[:limit], "next": items[limit - 1]["case_id"]}
        if len(ids) < SCAN_CHUNK or scanned >= MAX_SCAN:
            # a page may end short of ``limit`` after MAX_SCAN threads: ``next`` goes on
            nxt = after if len(ids) == SCAN_CHUNK else None
            await ctx.done(_persons_of_all(items))
            return {"items": items, "next": nxt}


@router.get(
    "/v1/cases/{case_id}",
    summary="One case thread: refs from every agency, stage, due time, persons, places",
    description="The thread as one case: every agency's refs, stage and status, `due_at` (the "
    "latest an agency stated), `sla` (`{stage, due_at, level}` on the hub's clock), `returns`, "
    "`rework`, persons and places.\n\n" + OVERDUE,
    responses={
        200: {"content": {"application/json": {"example": EXAMPLE_CASE}}},
        404: {"description": "no such case"},
    },
    response_model=None,
)
async def get_case(case_id: CaseId, ctx: CaseReader, rules: RulesInForce) -> Response:
    return await case_answer(ctx.pool, ctx, case_id, rules, datetime.now(UTC))


async def case_shown(
    conn: asyncpg.Pool | asyncpg.Connection,
    ctx: ReadContext,
    case_id: str,
    rules: Rules,
    at: datetime,
    sealed_now: bool = False,
) -> tuple[dict[str, Any], bool] | None:
    """The thread as ``ctx``'s reader may see it at ``at`` (overdue, clock), read through
    ``conn`` (the live read model, or an as-of view of it), and whether anything was masked;
    None: no such case. ``sealed_now``: a thread sealed now is masked even where it was not
    sealed yet (as-of reads: the policy is today's). Not audited: the caller does."""
    c = await cases_reads.case(conn, case_id, at)
    if c is None:
        return None
    if (
        sealed_now
        and not c.get("sealed")
        and isinstance(conn, asyncpg.Connection)
        and ctx.policy.case_sealed_for(ctx.principal, {"sealed": True})
        and await asof_reads.sealed_now(conn, c["case_id"])
    ):
        c["sealed"] = True  # sealed since, from a reader who may not see it: masked whole
    # (a reader who may see sealed cases sees the flag as it was at the instant)
    await sla_reads.add_sla(conn, [c], rules, at)
    shown, masked = ctx.policy.mask_case(ctx.principal, c)
    if shown.get("status") == "restricted":
        shown["case_id"] = case_id  # withheld whole: the id asked by, not the thread's
    return shown, masked


async def case_answer(
    conn: asyncpg.Pool | asyncpg.Connection,
    ctx: ReadContext,
    case_id: str,
    rules: Rules,
    at: datetime,
    extra: dict[str, Any] | None = None,
    sealed_now: bool = False,
) -> Response:
    """:func:`case_shown` answered and audited; ``extra`` is added to the answer."""
    got = await case_shown(conn, ctx, case_id, rules, at, sealed_now)
    if got is None:
        await ctx.done([], "not-found")
        raise Problem(404, "Not found", f"no case {case_id!r}")
    shown, masked = got
    await ctx.done(_persons_of(shown), "ok-masked" if masked else "ok")
    return answer({**shown, **extra} if extra else shown)


@router.get(
    "/v1/cases/{case_id}/timeline",
    summary="Every event of the thread from every agency, in event time",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "items": [
                            {
                                "time": "2026-11-23T00:00:00Z",
                                "agency": "city",
                                "type": "city.case.reported",
                                "event_id": "e-1",
                                "summary": "city case C-2026-000042 reported",
                            }
                        ],
                        "next": None,
                    }
                }
            }
        }
    },
)
async def get_timeline(case_id: CaseId, ctx: CaseReader) -> dict[str, Any]:
    c = await cases_reads.case(ctx.pool, case_id, datetime.now(UTC))
    if c is None:
        await ctx.done([], "not-found")
        raise Problem(404, "Not found", f"no case {case_id!r}")
    if ctx.policy.case_sealed_for(ctx.principal, c):
        await ctx.done([], "denied")
        raise Problem(
            403,
            "Forbidden",
            "the case is restricted; ask " + ", ".join(sorted(ctx.policy.sealed_visible_to)),
        )
    items = await cases_reads.case_timeline(ctx.pool, case_id)
    await ctx.done(_persons_of(c))
    return {"items": items, "next": None}


@router.get(
    "/v1/grids",
    tags=["grids"],
    summary="Every grid with case threads: open, overdue, closed (the dashboard map)",
    description="Per grid, its case threads `open`, `overdue` and `closed`, and `sla`: how "
    "many open threads are `green`, `yellow` and `red` on the hub's clock (every red one is "
    "overdue).\n\n" + OVERDUE,
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "items": [
                            {
                                "grid": "11010500100101",
                                "open": 12,
                                "overdue": 3,
                                "closed": 140,
                                "sla": {"green": 7, "yellow": 2, "red": 3},
                            }
                        ],
                        "next": None,
                    }
                }
            }
        }
    },
)
async def list_grids(ctx: CaseReader, rules: RulesInForce) -> dict[str, Any]:
    items = await grids_reads.grids(ctx.pool, rules, datetime.now(UTC))
    await ctx.done([])
    return {"items": items, "next": None}


@router.get(
    "/v1/grids/{grid}",
    tags=["grids"],
    summary="The grid board: open, overdue and closed case threads, incidents, residents",
    description="The grid's case threads `open`, `overdue` and `closed` (the ids of the "
    "overdue ones the reader may see in `overdue_case_ids`), police incidents, residents, "
    "and `sla`: how many open threads are `green`, `yellow` and `red` on the hub's "
    "clock.\n\n" + OVERDUE,
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "grid": "11010500100101",
                        "cases": {"open": 12, "overdue": 3, "closed": 140},
                        "incidents": {"open": 2, "closed": 9},
                        "residents": 388,
                        "overdue_case_ids": ["C-3f0c1d2e4b5a6978"],
                        "sla": {"green": 7, "yellow": 2, "red": 3},
                    }
                }
            }
        },
        404: {"description": "unknown grid"},
    },
)
async def get_grid(grid: GridCode, ctx: CaseReader, rules: RulesInForce) -> dict[str, Any]:
    sees_sealed = not ctx.policy.case_sealed_for(ctx.principal, {"sealed": True})
    board = await grids_reads.grid_board(ctx.pool, grid, rules, datetime.now(UTC), sees_sealed)
    await ctx.done([], "ok" if board else "not-found")
    if board is None:
        raise Problem(404, "Not found", f"nothing is known in grid {grid!r}")
    return board
