"""``GET /v1/replay/chronology`` and ``POST /v1/replay/exports`` (contract section 8): the
multi-agency chronology of chosen persons, cases and places (JSON, CSV or a printable page),
and the export of it with the events, the audit extract and the proofs, for
``civic-hub replay verify``. Investigator or auditor, with X-Purpose and X-Case-Ref; every
call audited under the ids it covers. Read only: the read model is read in one snapshot;
the one write besides the audit record is a signed checkpoint of the chains' heads, so an
export can prove its newest rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub import chronology as chrono
from hub.api.context import ReadContext, replay_reader, to_json, v1_router
from hub.api.problems import Problem
from hub.checkpoints import write_checkpoints
from hub.chronology_render import style_policy, to_csv, to_html
from hub.replay_bundle import Request as BundleRequest
from hub.replay_bundle import build_bundle

log = structlog.get_logger("hub.api.replay_chronology")
router = v1_router(tags=["replay"])
Replayer = Annotated[ReadContext, Depends(replay_reader)]
MAX_SUBJECTS = 20
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
EARLIEST, LATEST = 1900, 9000  # years: instants outside are a bad request, not an overflow

EXAMPLE = {
    "subjects": {"persons": ["P-a92b61bb612f4cc6"], "cases": [], "places": []},
    "window": {"from": "2026-11-01T00:00:00Z", "to": None},
    "items": [
        {
            "happened_at": "2026-11-03T08:00:00Z",
            "known_at": "2026-11-03T08:00:01.204000Z",
            "agency": "city",
            "kind": "event",
            "type": "city.case.reported",
            "summary": "city case C-2026-000042 reported",
            "event_id": "city-story-1",
            "source": "/agency/city/demo",
            "ref": "archive:agency.city/2#17",
        },
        {
            "happened_at": "2026-11-04T09:12:00Z",
            "known_at": "2026-11-04T09:12:00Z",
            "agency": "police",
            "kind": "read",
            "type": "read.ok",
            "summary": "officer-9 (investigator, police) GET /v1/persons/P-a92b61bb612f4cc6: ok",
            "user": "officer-9",
            "purpose": "investigation",
            "ref": "audit#118",
        },
    ],
    "counts": {"event": 1, "notice": 0, "read": 1, "withheld": 0},
    "limits": list(chrono.LIMITS),
}
_DESCRIPTION = (
    "One list, ordered by `happened_at` (the agency's time; a date only where `precision` is "
    "`day`) then `known_at` (when the hub took it in): every agency's events about the "
    "subjects (a person: all its records under any of its ids and every case thread it is a "
    "party of; a case: every record of its thread; a place: events at it), the reads the hub "
    "audited about them (`kind: read`, with `user`, `purpose`, `case_ref`) and the hub's "
    "notices (`kind: notice`). Items the access policy withholds from the reader's agency "
    "say that they exist and whom to ask (`type: withheld`). `limits` says what the "
    "chronology cannot show. `format=csv` (or `Accept: text/csv`) gives CSV, `format=html` a "
    "self-contained printable page."
)


def _plain(text: str) -> bool:
    """An id the database can hold (no NUL, no lone surrogate) and a person can read."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(ord(c) < 32 or ord(c) == 127 for c in text)


def _window(start: datetime | None, end: datetime | None) -> None:
    for t in (start, end):
        if t is not None and (t.utcoffset() is None or not EARLIEST <= t.year <= LATEST):
            raise Problem(
                400,
                "Bad request",
                "from and to are RFC 3339 instants with an offset"
                f" (e.g. +08:00 or Z), years {EARLIEST}–{LATEST}",
            )
    if start is not None and end is not None and not start < end:
        raise Problem(400, "Bad request", "from must be before to")


async def _checked(
    ctx: ReadContext,
    persons: list[str],
    cases: list[str],
    places: list[str],
    start: datetime | None,
    end: datetime | None,
) -> None:
    try:
        if not (persons or cases or places):
            raise Problem(400, "Bad request", "name at least one person, case or place")
        if max(len(persons), len(cases), len(places)) > MAX_SUBJECTS:
            raise Problem(400, "Bad request", f"at most {MAX_SUBJECTS} of each kind of subject")
        if not all(_plain(x) for x in (*persons, *cases, *places)):
            raise Problem(400, "Bad request", "an id holds a control character or is not UTF-8")
        _window(start, end)
    except Problem:
        await ctx.done([], "bad-request")
        raise


def _made(ctx: ReadContext) -> dict[str, Any]:
    p = ctx.principal
    return {
        "user": p.user,
        "agency": p.agency,
        "role": p.role,
        "purpose": ctx.purpose,
        "case_ref": ctx.case_ref,
    }


@router.get(
    "/v1/replay/chronology",
    summary="The multi-agency chronology of persons, cases and places: events, reads, notices",
    description=_DESCRIPTION,
    responses={
        200: {
            "content": {
                "application/json": {"example": EXAMPLE},
                "text/csv": {"example": "happened_at,precision,known_at,agency,kind,...\r\n"},
                "text/html": {"example": "<!DOCTYPE html>…"},
            }
        }
    },
    response_model=None,
)
async def chronology(
    request: Request,
    ctx: Replayer,
    person: Annotated[list[Id], Query(examples=[["P-a92b61bb612f4cc6"]])] = [],  # noqa: B006
    case: Annotated[list[Id], Query(examples=[["C-3f0c1d2e4b5a6978"]])] = [],  # noqa: B006
    place: Annotated[list[Id], Query(examples=[["PL-ac20ecaf42b1cc60"]])] = [],  # noqa: B006
    start: Annotated[
        datetime | None, Query(alias="from", description="window start (RFC 3339), inclusive")
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="window end (RFC 3339), exclusive")
    ] = None,
    format: Annotated[Literal["json", "csv", "html"] | None, Query()] = None,
) -> Response:
    await _checked(ctx, person, case, place, start, end)
    tz = request.app.state.grid_map.timezone
    async with (
        ctx.pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        c = await chrono.build(conn, ctx.policy, ctx.principal, person, case, place, start, end, tz)
    await ctx.done(c.subjects.audit_ids(), "ok-masked" if c.masked else "ok")
    body = c.answer()
    accept = request.headers.get("accept", "")
    if format is None:
        format = "csv" if "text/csv" in accept else "json"
    if format == "csv":
        return Response(
            to_csv(body),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'inline; filename="chronology.csv"'},
        )
    if format == "html":
        made = {**_made(ctx), "at": chrono.iso(datetime.now(UTC))}
        return Response(
            to_html(body, made),
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": style_policy()},
        )
    return Response(to_json(body), media_type="application/json")


class ExportRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    persons: list[Id] = Field(default_factory=list, max_length=MAX_SUBJECTS)
    cases: list[Id] = Field(default_factory=list, max_length=MAX_SUBJECTS)
    places: list[Id] = Field(default_factory=list, max_length=MAX_SUBJECTS)
    start: datetime = Field(alias="from", description="window start (RFC 3339), inclusive")
    end: datetime = Field(alias="to", description="window end (RFC 3339), exclusive")


@router.post(
    "/v1/replay/exports",
    summary="An investigation's bundle: events as received, chronology, audit extract, proofs",
    description="The chronology of `persons`, `cases` and `places` over `[from, to)` with, "
    "for `civic-hub replay verify FILE` to check offline: every event behind it as the hub "
    "archived it (envelope and data; content the reader may not see as a digest only), the "
    "audit rows of its reads, and per hash chain the segment from each row to the first "
    "signed checkpoint after it, the checkpoint, the hub's public key and the bundle's seal.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "format": "civic-hub replay bundle v1",
                        "chronology": EXAMPLE,
                        "events": [],
                        "audit": [],
                        "proofs": {"public_key": {}, "segments": [], "unproven": []},
                        "seal": {"key_id": "0f1e2d3c4b5a6978", "signature": "…"},
                    }
                }
            }
        }
    },
    response_model=None,
)
async def export(request: Request, ctx: Replayer, body: ExportRequest) -> Response:
    await _checked(ctx, body.persons, body.cases, body.places, body.start, body.end)
    checkpointer = request.app.state.checkpointer
    # sign the heads first: everything the snapshot below sees then has a checkpoint after it
    await write_checkpoints(ctx.pool, checkpointer.key, checkpointer.signed)
    req = BundleRequest(body.persons, body.cases, body.places, body.start, body.end)
    async with (
        ctx.pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        bundle, c = await build_bundle(
            conn,
            checkpointer.key,
            ctx.policy,
            ctx.principal,
            _made(ctx),
            req,
            request.app.state.grid_map.timezone,
        )
    await ctx.done(c.subjects.audit_ids(), "ok-masked" if c.masked else "ok")
    log.info(
        "replay.export",
        items=len(c.items),
        segments=len(bundle["proofs"]["segments"]),
        case_ref=ctx.case_ref,
    )
    return Response(
        to_json(bundle),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="replay-bundle.json"'},
    )
