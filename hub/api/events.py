"""The HTTP gateway (../shared/CONTRACT.md section 2): agencies that cannot speak Kafka
POST CloudEvents."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import structlog
from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials

from hub.api.context import bearer, v1_router
from hub.api.problems import Problem
from hub.gateway import MAX_BATCH, Gateway
from hub.tokens import Principal, TokenBook
from schemas.strictjson import NumberOutOfRange, exact_loads, fast_loads, needs_exact

router = v1_router(tags=["gateway"])
log = structlog.get_logger("hub.gateway")

SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
MAX_BODY = 16 * 1024 * 1024


async def publisher(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    tokens: TokenBook = request.app.state.tokens
    principal = tokens.lookup(creds.credentials) if creds else None
    if principal is None:
        raise Problem(
            401,
            "Unauthorized",
            "send Authorization: Bearer <agency-system token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if principal.role != "agency-system":
        raise Problem(
            403,
            "Forbidden",
            f"role {principal.role!r} may not publish events; "
            "an agency-system token may publish for its own agency",
        )
    return principal


EXAMPLE_EVENT = {
    "specversion": "1.0",
    "id": "reg-000123",
    "source": "/agency/civil/registry",
    "type": "civil.resident.moved",
    "time": "2026-11-23T09:30:00+08:00",
    "subject": "R-000123",
    "agency": "civil",
    "dataschema": "https://civic-hub.example/schemas/civil/moved/v1",
    "data": {
        "resident_id": "R-000123",
        "address": {"text": "朝阳区将台路5号2号楼1单元302室"},
        "moved_on": "2026-11-20",
    },
}


@router.post(
    "/v1/events",
    status_code=202,
    summary="Publish one CloudEvent or a batch for the token's agency",
    description="`application/cloudevents+json` (one event) or "
    "`application/cloudevents-batch+json` (a JSON array). 202 once every new event is durably "
    "in the log (acks=all). All or nothing: if any event is rejected, none is sent and the "
    "422 answer lists each rejection with its field and reason. An event whose (source, id) "
    "was already accepted is not sent again and is counted under `duplicates`.",
    openapi_extra={
        "requestBody": {
            "content": {SINGLE: {"example": EXAMPLE_EVENT}, BATCH: {"example": [EXAMPLE_EVENT]}}
        }
    },
    responses={
        202: {
            "content": {
                "application/json": {
                    "example": {
                        "accepted": 1,
                        "duplicates": 0,
                        "min_offset": "agency.civil:2:1043",
                        "events": [
                            {
                                "id": "reg-000123",
                                "source": "/agency/civil/registry",
                                "partition": 2,
                                "offset": 1042,
                            }
                        ],
                    }
                }
            }
        },
        422: {"description": "rejected events, each with index, id, reason, field, detail"},
    },
)
async def post_events(
    request: Request, principal: Annotated[Principal, Depends(publisher)]
) -> Response:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in (SINGLE, BATCH, "application/json"):
        raise Problem(
            415,
            "Unsupported media type",
            f"send {SINGLE} (one event) or {BATCH} (a JSON array of events)",
        )
    body = await _body_within(request, MAX_BODY)
    doc = _read_json(body)
    if ctype == BATCH or (ctype == "application/json" and isinstance(doc, list)):
        if not isinstance(doc, list):
            raise Problem(400, "Bad request", f"{BATCH} must be a JSON array of events")
        docs: list[Any] = doc
    else:
        if not isinstance(doc, dict):
            raise Problem(400, "Bad request", f"{SINGLE} must be one JSON object")
        docs = [doc]
    if not docs:
        raise Problem(400, "Bad request", "the batch is empty")
    if len(docs) > MAX_BATCH:
        raise Problem(413, "Payload too large", f"a batch may hold at most {MAX_BATCH} events")
    gateway: Gateway = request.app.state.gateway
    outcome = await gateway.submit(docs, principal.agency)
    if outcome.errors:
        unreadable = [e for e in outcome.errors if e.reason in UNREADABLE]
        if unreadable:  # the JSON itself is ambiguous or unrepresentable: a bad request
            raise Problem(
                400,
                "Bad request",
                f"{len(unreadable)} of {len(docs)} events cannot be read unambiguously"
                f" ({unreadable[0].reason} at {unreadable[0].field or 'the event'});"
                " none was sent",
                errors=[e.as_dict() for e in outcome.errors],
            )
        log.warning(
            "gateway.rejected",
            user=principal.user,
            agency=principal.agency,
            rejected=len(outcome.errors),
            batch=len(docs),
        )
        raise Problem(
            422,
            "Events rejected",
            f"{len(outcome.errors)} of {len(docs)} events were rejected; none was sent",
            errors=[e.as_dict() for e in outcome.errors],
        )
    log.info(
        "gateway.accepted",
        user=principal.user,
        agency=principal.agency,
        accepted=len(outcome.accepted),
        duplicates=outcome.duplicates,
        event_ids=[a["id"] for a in outcome.accepted[:20]],
    )
    return Response(
        orjson.dumps(
            {
                "accepted": len(outcome.accepted),
                "duplicates": outcome.duplicates,
                "min_offset": outcome.min_offset,
                "events": outcome.accepted,
            }
        ),
        status_code=202,
        media_type="application/json",
    )


# Rejections of the JSON text itself (not of an event's content): answered 400, not 422.
UNREADABLE = frozenset({"duplicate-key", "number-out-of-range"})


def _read_json(body: bytes) -> Any:
    """The body as JSON, read as strictly as the Kafka intake reads a record
    (:mod:`schemas.strictjson`): orjson, and the exact reading only when the cheap check
    says the text may hold a duplicate key or an integer orjson would change. Objects with
    a duplicate key come back marked; each event's shape check then names the key."""
    try:
        doc = fast_loads(body)
    except NumberOutOfRange as exc:
        raise Problem(400, "Bad request", str(exc), reason="number-out-of-range") from None
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "Bad request", f"the body is not valid JSON ({exc})") from None
    if not needs_exact(body, doc):
        return doc
    try:
        return exact_loads(body)
    except RecursionError:
        raise Problem(400, "Bad request", "the body nests too deep", reason="too-deep") from None
    except NumberOutOfRange as exc:
        raise Problem(400, "Bad request", str(exc), reason="number-out-of-range") from None
    except ValueError as exc:
        raise Problem(400, "Bad request", f"the body is not valid JSON ({exc})") from None


async def _body_within(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit``: the declared length first,
    then what actually arrives, chunk by chunk (a 120 MB body is never held whole)."""
    too_large = Problem(413, "Payload too large", f"a request may carry at most {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
