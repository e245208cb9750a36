"""``GET /v1/reports/kpi`` (CONTRACT.md section 7): how grids, agencies and streets handled
the city's cases over a window, from the event archive (:mod:`projections.reads.kpi`), so
any past window can be recomputed. Audited like every read."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Query

from hub.api.context import ReadContext, reader, v1_router
from hub.api.coordination import RulesInForce
from hub.api.problems import Problem
from projections.reads import kpi as kpi_reads

router = v1_router(tags=["reports"])
ReportReader = Annotated[ReadContext, Depends(reader("report"))]
MAX_WINDOW = timedelta(days=366 * 5)

EXAMPLE = {
    "by": "grid",
    "from": "2026-11-01T00:00:00+08:00",
    "to": "2026-12-01T00:00:00+08:00",
    "rule": {"id": "civic-hub/default", "version": 1},
    "items": [
        {
            "key": "11010500100101",
            "received": 40,
            "responded_on_time": 36,
            "solved": 31,
            "closed": 30,
            "closed_on_time": 24,
            "followed_up": 20,
            "satisfied": 17,
            "rework": 3,
            "extended": 2,
            "bounced": 1,
            "solved_lowest_level": 25,
            "response_rate": 0.9,
            "solve_rate": 0.775,
            "on_time_close_rate": 0.8,
            "satisfaction_rate": 0.85,
            "rework_rate": 0.075,
            "lowest_level_share": 0.8065,
        }
    ],
    "total": {"key": "*", "received": 40},
}
_DESCRIPTION = (
    "Per key (`by`: `grid` of the case's report, `agency` owning its category under the rules "
    "in force, `street`: the grid code's first 9 digits) over the city cases first reported "
    "in `[from, to)`, each judged on its own events before `to` (computed from the event "
    "archive, so a past window gives the same answer whenever it is asked). `total` sums "
    "every key. A rate whose denominator is 0 is null.\n\n"
    + "\n".join(f"- `{k}`: {v}" for k, v in kpi_reads.FORMULAS.items())
)


@router.get(
    "/v1/reports/kpi",
    summary="KPI per grid, agency or street over a window: received, on time, solved, …",
    description=_DESCRIPTION,
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}},
)
async def kpi(
    ctx: ReportReader,
    rules: RulesInForce,
    start: Annotated[
        datetime, Query(alias="from", description="window start (RFC 3339 with offset), inclusive")
    ],
    end: Annotated[
        datetime, Query(alias="to", description="window end (RFC 3339 with offset), exclusive")
    ],
    by: Annotated[Literal["grid", "agency", "street"], Query()] = "grid",
) -> dict[str, Any]:
    if start.utcoffset() is None or end.utcoffset() is None:
        await ctx.done([], "bad-request")
        raise Problem(400, "Bad request", "from and to need an offset (e.g. +08:00 or Z)")
    if not start < end or end - start > MAX_WINDOW:
        await ctx.done([], "bad-request")
        raise Problem(400, "Bad request", "from must be before to, at most five years apart")
    out = await kpi_reads.kpi(ctx.pool, rules, start, end, by)
    await ctx.done([])
    return out
