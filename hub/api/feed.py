"""``GET /v1/feed``: the live feed as server-sent events (new cases, referrals, cases turning
overdue), masked for the reader like every case read and audited when the stream opens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.responses import StreamingResponse

from hub.api.context import ReadContext, reader, to_json, v1_router
from hub.feed import Item, LiveFeed

router = v1_router(tags=["cases"])
FeedReader = Annotated[ReadContext, Depends(reader("case"))]

EXAMPLE_STREAM = (
    ": civic hub live feed\n\n"
    'id: 4f2a1c-17\nevent: case\ndata: {"case_id":"C-3f0c1d2e4b5a6978","type":'
    '"city.case.reported","agency":"city","time":"2026-11-23T08:00:00+00:00",'
    '"summary":"neighbour-dispute reported","category":"neighbour-dispute",'
    '"grid":"11010500100101","sealed":null}\n\n'
    'id: 4f2a1c-18\nevent: referral\ndata: {"case_id":"C-9d…","to_agency":"city",…}\n\n'
    'id: 4f2a1c-19\nevent: overdue\ndata: {"case_id":"C-3f0c1d2e4b5a6978","due_at":'
    '"2026-11-23T10:00:00+08:00","stage":"dispatched",…}\n\n'
)


def _frame(ctx: ReadContext, feed: LiveFeed, item: Item) -> bytes:
    data = item.data  # case facts only: no persons, so sealing is all there is to mask
    if feed.sealed_now(data.get("case_id")):  # as the thread stands when the item is sent
        data = {**data, "sealed": True}
    if ctx.policy.case_sealed_for(ctx.principal, data):
        data, _ = ctx.policy.mask_case(ctx.principal, data)
    return (
        f"id: {feed.epoch}-{item.id}\nevent: {item.kind}\ndata: ".encode() + to_json(data) + b"\n\n"
    )


@router.get(
    "/v1/feed",
    summary="Live feed (server-sent events): new cases, referrals, cases turning overdue",
    description="`text/event-stream`. Events: `case` (a city case, 110 incident, police case "
    "or court filing arrived), `referral` (a case escalated or an incident referred to another "
    "agency), `overdue` (an open case's due time passed, or an event arrived for a case "
    "already past due), `notice` (a coordination notice the hub raised on `hub.coordination`: "
    "`type` is hub.case.warned, urged, supervised, raised, bounced or hub.referral.routed; "
    "notices of one case raised together, as at start after an outage, are one item whose "
    "`types` lists them, oldest first, and `type` is the latest; a notice that fell due more "
    "than 15 minutes before it was raised, a backlog, is in the case's timeline, not here). "
    "Each `data` is one JSON object; sealed court cases show as "
    "restricted to agencies other than the court. A new stream starts with the recent "
    "items; reconnect with `Last-Event-ID` to resume without gaps. A comment line every "
    "15 s keeps idle connections open. The stream opening is audited.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"example": EXAMPLE_STREAM}}}},
)
async def feed(
    request: Request,
    ctx: FeedReader,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    live: LiveFeed = request.app.state.feed
    after = live.parse_last_id(last_event_id)
    await ctx.done([], "ok-stream")

    async def stream() -> AsyncIterator[bytes]:
        yield b": civic hub live feed\nretry: 2000\n\n"
        async for batch in live.follow(after):
            if not batch:
                yield b": keep-alive\n\n"
                continue
            yield b"".join(_frame(ctx, live, i) for i in batch)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
