"""Places: one per standard address, with its grid, current residents and cases."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Query

from hub.api.context import ReadContext, reader, v1_router
from hub.api.params import PlaceId
from hub.api.problems import Problem
from projections.address import parse as parse_address
from projections.ids import hub_id
from projections.reads import places as places_reads

router = v1_router(tags=["places"])
PlaceReader = Annotated[ReadContext, Depends(reader("place"))]

EXAMPLE = {
    "place_id": "PL-12bc0ffbc1c9c023",
    "also_known_as": ["PL-4f0e8a1c2b7d9e35"],
    "address": {
        "district": "110105",
        "road": "阜通东大街",
        "number": 6,
        "building": 3,
        "unit": 2,
        "floor": 12,
        "room": 1201,
    },
    "grid": "11010500100101",
    "spellings": ["北京市朝阳区望京街道阜通东大街6号3号楼2单元1201室", "3号楼2单元1201室"],
    "residents": ["P-72fe43937491d8a6"],
    "cases": ["C-e037911471f5a878"],
}


@router.get(
    "/v1/places/{place_id}",
    summary="One place: standard address, grid, residents, cases",
    description=(
        'A room written as building, unit and room only ("3号楼2单元1201室", with its grid)'
        " is the same place as the grid's one full address with that building, unit and room:"
        " it answers under the full address's `place_id`, its own id listed in"
        " `also_known_as` (and still answering). With no such full address, or two in one"
        " grid (two compounds with the same numbers), it is a place of its own."
    ),
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}},
)
async def get_place(place_id: PlaceId, ctx: PlaceReader) -> dict[str, Any]:
    return await place_answer(ctx.pool, ctx, place_id)


async def place_shown(
    conn: asyncpg.Pool | asyncpg.Connection, ctx: ReadContext, place_id: str
) -> tuple[dict[str, Any], bool] | None:
    """The place as ``ctx``'s reader may see it, read through ``conn`` (the live read model,
    or an as-of view of it), and whether anything was masked; None: no such place."""
    p = await places_reads.place(conn, place_id)
    return None if p is None else ctx.policy.mask_place(ctx.principal, p)


async def place_answer(
    conn: asyncpg.Pool | asyncpg.Connection,
    ctx: ReadContext,
    place_id: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`place_shown` answered and audited; ``extra`` is added to the answer."""
    got = await place_shown(conn, ctx, place_id)
    if got is None:
        await ctx.done([], "not-found")
        raise Problem(404, "Not found", f"no place {place_id!r}")
    shown, masked = got
    await ctx.done(shown["residents"], "ok-masked" if masked else "ok")
    return {**shown, **extra} if extra else shown


@router.get(
    "/v1/places",
    summary="Find places by address (read as intake reads it) or grid",
    responses={
        200: {"content": {"application/json": {"example": {"items": [EXAMPLE], "next": None}}}}
    },
)
async def find_places(
    ctx: PlaceReader,
    address: Annotated[str | None, Query(min_length=2, max_length=300)] = None,
    grid: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z-]{2,32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    if address is None and grid is None:
        await ctx.done([], "bad-request")
        raise Problem(400, "Bad request", "give address or grid")
    nxt = None
    if address is not None:
        ids = [hub_id("PL", parse_address(address, grid).key())]
    else:
        ids = await places_reads.places_in_grid(ctx.pool, grid or "", cursor, limit + 1)
        if len(ids) > limit:
            ids, nxt = ids[:limit], ids[limit - 1]
    items = [
        ctx.policy.mask_place(ctx.principal, p)[0]
        for p in [await places_reads.place(ctx.pool, i) for i in ids]
        if p is not None
    ]
    await ctx.done(sorted({r for p in items for r in p["residents"]}))
    return {"items": items, "next": nxt}
