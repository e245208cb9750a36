"""Persons: one hub person per real person across agencies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Query
from fastapi.responses import Response

from hub.api.context import ReadContext, answer, reader, v1_router
from hub.api.params import PersonId
from hub.api.problems import Problem
from projections.names import normalize_name
from projections.reads import persons as persons_reads
from projections.reads import sla as sla_reads
from schemas import national_id as nid_rules

router = v1_router(tags=["persons"])
PersonReader = Annotated[ReadContext, Depends(reader("person"))]

EXAMPLE_PERSON = {
    "person_id": "P-a92b61bb612f4cc6",
    "national_id": "11010519491231002X",
    "names": ["张三"],
    "gender": "F",
    "birth_date": "1949-12-31",
    "status": "registered",
    "records": [{"agency": "civil", "kind": "resident", "id": "R-000001"}],
    "addresses": [{"place_id": "PL-ac20ecaf42b1cc60", "text": "朝阳区某路1号", "current": True}],
    "cases": [
        {"case_id": "C-3f0c1d2e4b5a6978", "role": "reporter", "agency": "city", "overdue": False}
    ],
    "provenance": {"name": {"event_id": "e-1", "agency": "civil", "time": "2026-11-23T00:00:00Z"}},
}


@router.get(
    "/v1/persons/{person_id}",
    summary="One person, with the agency records it was resolved from and each field's source",
    responses={
        200: {"content": {"application/json": {"example": EXAMPLE_PERSON}}},
        404: {"description": "no such person"},
    },
    response_model=None,
)
async def get_person(person_id: PersonId, ctx: PersonReader) -> Response:
    return await person_answer(ctx.pool, ctx, person_id)


async def with_overdue(
    conn: asyncpg.Pool | asyncpg.Connection,
    ctx: ReadContext,
    persons: list[dict[str, Any]],
    at: datetime | None = None,
) -> None:
    """Each of the persons' ``cases[]`` with its thread's ``overdue`` at ``at`` (now by
    default), as ``GET /v1/cases/{case_id}`` answers it (:func:`sla_reads.overdue`)."""
    if ctx.rules is None:
        return
    ids = [c["case_id"] for p in persons for c in p.get("cases", [])]
    flags = await sla_reads.threads_overdue(conn, ids, ctx.rules, at or datetime.now(UTC))
    for p in persons:
        for c in p.get("cases", []):
            c["overdue"] = flags.get(c["case_id"], False)


async def person_shown(
    conn: asyncpg.Pool | asyncpg.Connection,
    ctx: ReadContext,
    person_id: str,
    at: datetime | None = None,
) -> tuple[dict[str, Any], bool] | None:
    """The person as ``ctx``'s reader may see it (and whether anything was masked), read
    through ``conn`` (the live read model, or an as-of view of it), each case's ``overdue``
    asked at ``at`` (now by default); None: not found, or nothing of it the reader may see
    (the same answer). Not audited: the caller does."""
    p = await persons_reads.person(conn, person_id, ctx.policy.withhold(ctx.principal))
    if p is None:
        return None
    await with_overdue(conn, ctx, [p], at)
    return ctx.policy.mask_person(ctx.principal, p)


async def person_answer(
    conn: asyncpg.Pool | asyncpg.Connection,
    ctx: ReadContext,
    person_id: str,
    extra: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Response:
    """:func:`person_shown` answered and audited (each case's ``overdue`` asked at ``at``);
    ``extra`` is added to the answer."""
    got = await person_shown(conn, ctx, person_id, at)
    if got is None:
        await ctx.done([], "not-found")
        raise Problem(404, "Not found", f"no person {person_id!r}")
    shown, masked = got
    await ctx.done([shown["person_id"]], "ok-masked" if masked else "ok")
    return answer({**shown, **extra} if extra else shown)


@router.get(
    "/v1/persons",
    summary="Find persons by identity number (exact) or name (tolerant of variants)",
    description="`national_id`: the 18-character number, exact (spaces and a lower-case x "
    "are accepted). `name`: persons with a record that spells the name exactly come first "
    "(`match: exact`), then persons with a name that sounds the same as agencies mistype it "
    "(张/章, 陈/程, 周/邹: toneless pinyin with the zh/z, ch/c, sh/s, n/l, -n/-ng merges; "
    "`match: sounds-alike`). Full-width characters, spaces and the middle dot of minority "
    "names are ignored. Pages follow `next`.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {"items": [{**EXAMPLE_PERSON, "match": "exact"}], "next": None}
                }
            }
        }
    },
)
async def find_persons(
    ctx: PersonReader,
    national_id: Annotated[
        str | None, Query(max_length=32, examples=["11010519491231002X"])
    ] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=100, examples=["张三"])] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    if (national_id is None) == (name is None):
        await ctx.done([], "bad-request")
        raise Problem(400, "Bad request", "give exactly one of national_id or name")
    nxt = None
    if national_id is not None:
        found_ids = await persons_reads.persons_by_national_id(
            ctx.pool, nid_rules.normalize(national_id)
        )
        hits = [(i, "exact") for i in found_ids]
    else:
        if not normalize_name(name or ""):
            await ctx.done([], "bad-request")
            raise Problem(400, "Bad request", "name has no letters to search for")
        hits = await persons_reads.persons_by_name(ctx.pool, name.strip(), cursor, limit + 1)
        if len(hits) > limit:
            hits = hits[:limit]
            nxt = f"{0 if hits[-1][1] == 'exact' else 1}:{hits[-1][0]}"
    found = []
    withhold = ctx.policy.withhold(ctx.principal)
    for pid, how in hits:
        p = await persons_reads.person(ctx.pool, pid, withhold)
        # found only by what the reader may see: a number or a name of a record shown
        if p is not None and (
            nid_rules.normalize(national_id) in p["national_ids"]
            if national_id is not None
            else persons_reads.answers_to(p, name or "", how == "exact")
        ):
            found.append((p, how))
    await with_overdue(ctx.pool, ctx, [p for p, _ in found])
    shown = [(*ctx.policy.mask_person(ctx.principal, p), how) for p, how in found]
    await ctx.done(
        [p["person_id"] for p, _ in found], "ok-masked" if any(m for _, m, _ in shown) else "ok"
    )
    return {"items": [{**p, "match": how} for p, _, how in shown], "next": nxt}
