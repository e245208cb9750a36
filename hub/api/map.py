"""The grid map: each grid's boundary as GeoJSON with its open, overdue and closed city
cases and the SLA levels of the open ones, coloured green, yellow or red on the command
center's map (网格进图). Boundaries come from ``HUB_GRID_GEOJSON``
or are made from the grid codes (:mod:`hub.geo`). Audited like every read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from hub.api.context import ReadContext, reader, v1_router
from hub.api.coordination import RulesInForce
from hub.geo import GridMap
from projections.reads import grids as grids_reads
from projections.reads import places as places_reads

router = v1_router(tags=["grids"])
MAX_POINTS = 5_000  # places drawn as points; a district's map stays legible and light
CaseReader = Annotated[ReadContext, Depends(reader("case"))]

EXAMPLE = {
    "type": "FeatureCollection",
    "source": "generated",
    "unmapped": [],
    "features": [
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[116.4, 39.9], [116.41, 39.9], [116.41, 39.91], [116.4, 39.91], [116.4, 39.9]]
                ],
            },
            "properties": {
                "grid": "11010500100101",
                "open": 12,
                "overdue": 3,
                "closed": 140,
                "overdue_share": 0.25,
                "sla": {"green": 7, "yellow": 2, "red": 3},
                "level": "red",
            },
        }
    ],
    "base": {"type": "FeatureCollection", "features": []},
    "places": {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [116.4051, 39.9042]},
                "properties": {"place_id": "PL-3f2a9c1d7e5b4a60", "grid": "11010500100101"},
            }
        ],
    },
}


def overdue_share(grid: dict[str, Any]) -> float:
    """Of the city cases in hand (open), the share overdue."""
    return round(grid["overdue"] / grid["open"], 4) if grid["open"] else 0.0


def grid_level(grid: dict[str, Any]) -> str | None:
    """The grid's colour: red if any open case is red on the hub's clock, else yellow if
    any is yellow, else green; None when no open case has a clock (drawn grey)."""
    levels = grid.get("sla") or {}
    for name in ("red", "yellow", "green"):
        if levels.get(name):
            return name
    return None


@router.get(
    "/v1/map/grids",
    summary="Grid boundaries (GeoJSON) with open, overdue and closed cases and SLA levels per grid",
    description="A GeoJSON FeatureCollection: one Polygon per grid, its counts "
    "(`open`, `overdue`, `closed`, `overdue_share`: overdue ÷ open; `overdue` as a case read "
    "answers it: red on the hub's clock, or past the agency's due time for a thread the hub "
    "keeps no clock for), `sla` (how many open cases are `green`, `yellow`, `red` on the "
    "hub's clock, as `GET /v1/grids`) and `level`, the grid's colour: `red` if any open case "
    "is red, else `yellow` if any is yellow, else `green` (null: no open case with a clock) "
    "in `properties`; `base` holds district outlines to draw "
    "without map tiles; `places` the places agencies gave coordinates for, as Points; "
    "`unmapped` lists grids with cases but no known boundary. Boundaries "
    "come from the file `HUB_GRID_GEOJSON` names, or are generated from the grid codes.",
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}},
)
async def grid_map(request: Request, ctx: CaseReader, rules: RulesInForce) -> dict[str, Any]:
    gm: GridMap = request.app.state.grid_map
    grids = await grids_reads.grids(ctx.pool, rules, datetime.now(UTC))
    out = gm.collection(
        {**g, "overdue_share": overdue_share(g), "level": grid_level(g)} for g in grids
    )
    located = await places_reads.located(ctx.pool, MAX_POINTS)
    out["places"] = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": p["location"]},
                "properties": {"place_id": p["place_id"], "grid": p["grid"]},
            }
            for p in located
        ],
    }
    await ctx.done([])
    return out


@router.get("/ui/settings.json", include_in_schema=False)
async def page_settings(request: Request) -> dict[str, Any]:
    """What the page needs before it signs in: the district's time zone (no personal data)."""
    gm: GridMap = request.app.state.grid_map
    return {"timezone": gm.timezone, "boundaries": gm.source}
