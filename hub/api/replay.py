"""Replay for investigations (contract section 8): persons, cases and places as the hub knew
them at an instant, and what changed between two instants, field by field.

Every route needs role investigator or auditor, X-Purpose and X-Case-Ref
(:func:`hub.api.context.replay_reader`), and is audited like any read, with the case
reference. Replay only reads: it runs the live reads in a read-only transaction over the
as-of views (:mod:`projections.reads.asof`), and masks by today's policy (a thread sealed
since the instant is masked too)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Query
from fastapi.responses import Response

from hub import chronology
from hub.api.cases import EXAMPLE_CASE, case_answer, case_shown
from hub.api.context import ReadContext, answer, replay_reader, v1_router
from hub.api.coordination import RulesInForce
from hub.api.params import CaseId, PersonId, PlaceId
from hub.api.persons import EXAMPLE_PERSON, person_answer, person_shown
from hub.api.places import EXAMPLE as EXAMPLE_PLACE
from hub.api.places import place_answer
from hub.api.problems import Problem
from projections.reads import asof as asof_reads
from projections.reads import cases as cases_reads
from projections.reads import chronology as chronology_reads
from projections.reads.asof import Instant, as_of

router = v1_router(tags=["replay"])
ReplayReader = Annotated[ReadContext, Depends(replay_reader)]

KNOWN_AT = Query(
    description="The instant: what the hub had taken in (events, and its resolution "
    "decisions) by then, ISO 8601 with a time zone (`2026-11-24T09:30:00+08:00`). Default: "
    "now, when the answer equals the live read."
)
HAPPENED_BY = Query(
    description="Only what the agencies say happened by then (their `time`), ISO 8601 with a "
    "time zone. Facts, memberships and timelines are filtered by it; which records are one "
    "person or one thread stays as known at `known_at`."
)
FROM = Query(alias="from", description="The earlier instant (ISO 8601 with a time zone)")
TO = Query(alias="to", description="The later instant (ISO 8601 with a time zone); default now")


async def _instant(
    ctx: ReadContext, known_at: datetime | None, happened_by: datetime | None = None
) -> Instant:
    for name, t in (("known_at", known_at), ("happened_by", happened_by)):
        if t is not None and t.tzinfo is None:
            await ctx.done([], "bad-request")
            raise Problem(
                400,
                "Bad request",
                f"{name} needs a time zone (2026-11-24T09:30:00+08:00 or …Z): an instant"
                " without one is ambiguous",
            )
        if t is not None and not FIRST_YEAR <= t.astimezone(UTC).year <= LAST_YEAR:
            await ctx.done([], "bad-request")
            raise Problem(
                400, "Bad request", f"{name} must fall in the years {FIRST_YEAR}–{LAST_YEAR}"
            )
    return Instant(known_at or datetime.now(UTC), happened_by)


AS_OF = {"as_of": {"known_at": "2026-11-24T01:30:00Z", "happened_by": None}}


def _example(body: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"content": {"application/json": {"example": {**body, **AS_OF}}}},
        404: {"description": "not known at that instant (or nothing of it the reader may see)"},
    }


FIRST_YEAR, LAST_YEAR = 1900, 9000  # as the chronology's window (a database's dates end)


def _as_of(at: Instant) -> dict[str, Any]:
    return {"as_of": at.body()}


@router.get(
    "/v1/replay/persons/{person_id}",
    summary="A person as the hub knew it at an instant (the shape of GET /v1/persons/{id}, "
    "plus as_of)",
    responses=_example(EXAMPLE_PERSON),
    response_model=None,
)
async def replay_person(
    person_id: PersonId,
    ctx: ReplayReader,
    known_at: Annotated[datetime | None, KNOWN_AT] = None,
    happened_by: Annotated[datetime | None, HAPPENED_BY] = None,
) -> Response:
    at = await _instant(ctx, known_at, happened_by)
    async with as_of(ctx.pool, at) as conn:
        return await person_answer(conn, ctx, person_id, _as_of(at), at.known_at)


@router.get(
    "/v1/replay/cases/{case_id}",
    summary="A case thread as the hub knew it at an instant (the shape of GET "
    "/v1/cases/{id}, plus as_of; overdue and the clock as at known_at)",
    responses=_example(EXAMPLE_CASE),
    response_model=None,
)
async def replay_case(
    case_id: CaseId,
    ctx: ReplayReader,
    rules: RulesInForce,
    known_at: Annotated[datetime | None, KNOWN_AT] = None,
    happened_by: Annotated[datetime | None, HAPPENED_BY] = None,
) -> Response:
    at = await _instant(ctx, known_at, happened_by)
    async with as_of(ctx.pool, at) as conn:
        return await case_answer(
            conn, ctx, case_id, rules, at.known_at, _as_of(at), sealed_now=True
        )


@router.get(
    "/v1/replay/places/{place_id}",
    summary="A place as the hub knew it at an instant (the shape of GET /v1/places/{id}, "
    "plus as_of)",
    responses=_example(EXAMPLE_PLACE),
    response_model=None,
)
async def replay_place(
    place_id: PlaceId,
    ctx: ReplayReader,
    known_at: Annotated[datetime | None, KNOWN_AT] = None,
    happened_by: Annotated[datetime | None, HAPPENED_BY] = None,
) -> Response:
    at = await _instant(ctx, known_at, happened_by)
    async with as_of(ctx.pool, at) as conn:
        return answer(await place_answer(conn, ctx, place_id, _as_of(at)))


DIFF_EXAMPLE = {
    "from": "2026-11-24T01:00:00Z",
    "to": "2026-11-24T02:00:00Z",
    "items": [
        {
            "field": "names",
            "before": ["张三"],
            "after": ["张三", "章三"],
            "event_id": "e-17",
            "agency": "police",
            "known_at": "2026-11-24T01:12:09.112Z",
        }
    ],
}


def _visible_to(ctx: ReadContext) -> asof_reads.Visible:
    """Which events the reader may be told of (the chronology's rule): a change is never
    pinned on an event the reader may not see."""

    async def visible(rows: list[asyncpg.Record]) -> list[bool]:
        touched = [t.partition(":") for r in rows for t in r["touched"] or []]
        restr = await chronology_reads.restrictions(
            ctx.pool,
            sorted({i for k, _, i in touched if k == "record"}),
            sorted({i for k, _, i in touched if k == "case"}),
        )
        ask = chronology.withholder(ctx.policy, ctx.principal, restr)
        return [ask(r["type"], list(r["touched"] or [])) is None for r in rows]

    return visible


async def _window(
    ctx: ReadContext, start: datetime, end: datetime | None
) -> tuple[Instant, Instant]:
    a = await _instant(ctx, start)
    b = await _instant(ctx, end)
    if b.known_at < a.known_at:
        await ctx.done([], "bad-request")
        raise Problem(400, "Bad request", "from must not be later than to")
    return a, b


@router.get(
    "/v1/replay/persons/{person_id}/diff",
    summary="What the hub's view of a person changed between two instants, field by field",
    description="Each item: a top-level field of the person read, its value at `from` and at "
    "`to` (null: not known then), and the event (or resolution decision: agency `hub`) the "
    "hub took in between that stated it, with when the hub took it in.",
    responses={200: {"content": {"application/json": {"example": DIFF_EXAMPLE}}}},
)
async def person_diff(
    person_id: PersonId,
    ctx: ReplayReader,
    start: Annotated[datetime, FROM],
    end: Annotated[datetime | None, TO] = None,
) -> dict[str, Any]:
    a, b = await _window(ctx, start, end)
    views: list[dict[str, Any] | None] = []
    for at in (a, b):
        async with as_of(ctx.pool, at) as conn:
            got = await person_shown(conn, ctx, person_id, at.known_at)
            views.append(got[0] if got else None)
    before, after = views
    if before is None and after is None:
        await ctx.done([], "not-found")
        raise Problem(404, "Not found", f"no person {person_id!r} at either instant")
    records = {
        f"{r['agency']}:{r['kind']}:{r['id']}" for v in views if v for r in v.get("records", [])
    }
    items = await asof_reads.diff(
        ctx.pool, before, after, "record", sorted(records), a, b, _visible_to(ctx)
    )
    await ctx.done(sorted({v["person_id"] for v in views if v}))
    return {"from": a.known_at, "to": b.known_at, "items": items}


@router.get(
    "/v1/replay/cases/{case_id}/diff",
    summary="What the hub's view of a case thread changed between two instants, field by field",
    description="As the person diff, for the thread read (`GET /v1/cases/{id}`).",
    responses={200: {"content": {"application/json": {"example": DIFF_EXAMPLE}}}},
)
async def case_diff(
    case_id: CaseId,
    ctx: ReplayReader,
    rules: RulesInForce,
    start: Annotated[datetime, FROM],
    end: Annotated[datetime | None, TO] = None,
) -> dict[str, Any]:
    a, b = await _window(ctx, start, end)
    views: list[dict[str, Any] | None] = []
    nodes: set[str] = set()
    for at in (a, b):
        async with as_of(ctx.pool, at) as conn:
            got = await case_shown(conn, ctx, case_id, rules, at.known_at, sealed_now=True)
            views.append(got[0] if got else None)
            if got and got[0].get("status") != "restricted":
                nodes |= {r["case_id"] for r in await cases_reads.thread_nodes(conn, case_id)}
    before, after = views
    if before is None and after is None:
        await ctx.done([], "not-found")
        raise Problem(404, "Not found", f"no case {case_id!r} at either instant")
    items = await asof_reads.diff(
        ctx.pool, before, after, "case", sorted(nodes), a, b, _visible_to(ctx)
    )
    persons = {p["person_id"] for v in views if v for p in v.get("persons", []) if p["person_id"]}
    await ctx.done(sorted(persons))
    return {"from": a.known_at, "to": b.known_at, "items": items}


# The page's slider starts where the archive does.
@router.get(
    "/v1/replay/range",
    summary="The first instant the hub took anything in, and now (a replay's bounds)",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {"first": "2026-11-01T00:00:00.999Z", "now": "2026-11-24T01:30:00Z"}
                }
            }
        }
    },
)
async def replay_range(ctx: ReplayReader) -> dict[str, Any]:
    first = await asof_reads.first_known(ctx.pool)
    await ctx.done([])
    return {"first": first, "now": datetime.now(UTC)}
