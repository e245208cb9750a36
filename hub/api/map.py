"""The grid map: each grid's boundary as GeoJSON with its open, overdue and closed city
cases, for the command center's map (网格进图). Boundaries come from ``HUB_GRID_GEOJSON``
or are made from the grid codes (:mod:`hub.geo`). Audited like every read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from hub.api.context import ReadContext, reader, v1_router
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
    """Of the city cases in hand (open), the share past their due time: the colour of a
    grid until coordination's SLA clocks give each case a green/yellow/red level."""
    return round(grid["overdue"] / grid["open"], 4) if grid["open"] else 0.0


@router.get(
    "/v1/map/grids",
    summary="Grid boundaries (GeoJSON) with open, overdue and closed city cases per grid",
    description="A GeoJSON FeatureCollection: one Polygon per grid, its counts and "
    "`overdue_share` (overdue ÷ open) in `properties`; `base` holds district outlines to draw "
    "without map tiles; `places` the places agencies gave coordinates for, as Points; "
    "`unmapped` lists grids with cases but no known boundary. Boundaries "
    "come from the file `HUB_GRID_GEOJSON` names, or are generated from the grid codes.",
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}},
)
async def grid_map(request: Request, ctx: CaseReader) -> dict[str, Any]:
    gm: GridMap = request.app.state.grid_map
    grids = await grids_reads.grids(ctx.pool, datetime.now(UTC))
    out = gm.collection({**g, "overdue_share": overdue_share(g)} for g in grids)
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
