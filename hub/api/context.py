"""Who is asking and why: the bearer token, X-Purpose, the policy decision, and the audit
write that every ``/v1`` answer ends with.

Audit is structural: every ``/v1`` route is an :class:`AuditedRoute` (routers come from
:func:`v1_router`, and the app refuses to start with a ``/v1`` route that is not one). A
handler may write its own record with :meth:`ReadContext.done` (its subjects, its outcome);
whatever way it ends without one (an answer, a 404, a validation error, a 503), the route
writes it before the answer leaves. Requests without a valid token are counted in
``/metrics`` (``hub_api_unauthenticated_total``), not written: anyone can send them."""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import asyncpg
import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub import audit
from hub.api.offsets import NotCaughtUp, PositionWatcher
from hub.api.problems import Problem
from hub.policy import Policy, PurposeError
from hub.tokens import Principal, TokenBook

bearer = HTTPBearer(auto_error=False, description="A token from the HUB_TOKENS file")
UNAUTHENTICATED = Counter(
    "hub_api_unauthenticated_total",
    "/v1 requests without a valid bearer token (not audited: unbounded)",
)
MAX_AUDITED_PATH = 2000  # the path with its query, as asked, cut to this length


def _storable(text: str | None) -> str | None:
    """As asked, but storable: PostgreSQL text cannot hold NUL, and the audit row of a
    request that carried one must still be written (escaped) before the 400 goes out."""
    return text.replace("\x00", "\\x00") if text else text


def _as_typed(raw: str | None) -> str | None:
    """A header as the person typed it, for the audit of a refused request: servers hand
    headers over as Latin-1, so raw UTF-8 bytes are read back as UTF-8 where they are."""
    try:
        return raw.encode("latin-1").decode("utf-8") if raw else raw
    except UnicodeError:
        return raw


@dataclass
class ReadContext:
    pool: asyncpg.Pool
    audit: audit.AuditWriter
    policy: Policy
    principal: Principal
    purpose: str | None
    client: str | None
    method: str
    path: str
    asked: Sequence[str] = ()  # the ids in the path: the subject of a denied or missing read
    written: bool = False
    case_ref: str | None = None  # the investigation a replay read serves (X-Case-Ref)
    rules: Any = None  # the coordination rules in force (a case's clock: sla, overdue)

    async def done(self, subject_ids: Sequence[str], outcome: str = "ok") -> None:
        """Write the audit record; the answer goes out only after this returns. Once per
        request: the route's own record is not written twice."""
        if self.written:
            return
        self.written = True
        if not subject_ids and outcome not in ("ok", "ok-masked"):
            subject_ids = list(self.asked)  # who was asked about, even when refused
        await self.audit.write(
            audit.AuditRecord(
                self.principal.user,
                self.principal.agency,
                self.principal.role,
                self.client,
                self.method,
                _storable(self.path),
                _storable(self.purpose),
                [_storable(x) or "" for x in subject_ids],
                outcome,
                _storable(self.case_ref),
            )
        )


def _asked_path(request: Request) -> str:
    """The path with its query string, as asked (a name search is in its query), bounded."""
    q = request.url.query
    full = request.url.path + ("?" + q if q else "")
    return full if len(full) <= MAX_AUDITED_PATH else full[:MAX_AUDITED_PATH] + "…"


def _outcome(status: int) -> str:
    return {
        400: "bad-request",
        401: "unauthenticated",
        403: "denied",
        404: "not-found",
        409: "conflict",
        413: "too-large",
        422: "bad-request",
        503: "unavailable",
    }.get(status, "ok" if status < 400 else f"error-{status}")


class AuditedRoute(APIRoute):
    """A ``/v1`` route whose answer cannot leave without its audit record."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handle = super().get_route_handler()

        async def audited(request: Request) -> Response:
            try:
                response = await handle(request)
            except (StarletteHTTPException, RequestValidationError) as exc:
                status = exc.status_code if isinstance(exc, StarletteHTTPException) else 422
                await _ensure_audited(request, _outcome(status))
                raise
            except Exception:
                await _ensure_audited(request, "error")
                raise
            await _ensure_audited(request, _outcome(response.status_code))
            return response

        return audited


async def _ensure_audited(request: Request, outcome: str) -> None:
    if not request.url.path.startswith("/v1"):
        return  # the page's own settings: not a read of anyone
    ctx: ReadContext | None = getattr(request.state, "read_context", None)
    if ctx is None:  # a route without a reader (the gateway): whoever its token names
        tokens: TokenBook = request.app.state.tokens
        auth = request.headers.get("authorization", "")
        principal = tokens.lookup(auth[7:]) if auth[:7].lower() == "bearer " else None
        if principal is None:
            UNAUTHENTICATED.inc()
            return
        ctx = ReadContext(
            request.app.state.pool,
            request.app.state.audit,
            request.app.state.policy,
            principal,
            _as_typed(request.headers.get("x-purpose")),
            request.client.host if request.client else None,
            request.method,
            _asked_path(request),
            _path_ids(request),
        )
    await ctx.done([], outcome)


def _path_ids(request: Request) -> list[str]:
    return [str(v) for v in request.path_params.values()]


def v1_router(**kwargs: Any) -> APIRouter:
    """The router of a ``/v1`` resource: every route audited (:class:`AuditedRoute`)."""
    return APIRouter(route_class=AuditedRoute, **kwargs)


def all_routes(routes: Sequence[Any]) -> list[Any]:
    """Every route of an app, through the routers it includes."""
    out: list[Any] = []
    for r in routes:
        included = getattr(r, "original_router", None)  # FastAPI ≥ 0.16x wraps included routers
        out += all_routes(included.routes) if included is not None else [r]
    return out


def unaudited_v1_routes(routes: Sequence[Any]) -> list[str]:
    """``/v1`` routes that are not audited by construction (the app refuses to start)."""
    return [
        r.path
        for r in all_routes(routes)
        if getattr(r, "path", "").startswith("/v1") and not isinstance(r, AuditedRoute)
    ]


def to_json(body: Any) -> bytes:
    """How the API writes JSON, everywhere: orjson, UTC as ``Z``."""
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return to_json(content)


def answer(body: Any) -> Response:
    """The JSON answer, serialized once (no second pass through FastAPI's encoder: the read
    paths are hot)."""
    return Response(to_json(body), media_type="application/json")


MIN_OFFSET_WAIT = 10.0


def parse_min_offset(token: str, topics: Sequence[str] | None = None) -> dict[tuple[str, int], int]:
    """``topic:partition:offset[,…]`` as the gateway returns it in ``min_offset``; a topic
    the hub does not read (``topics``) is a bad request, not a wait that cannot end."""
    out: dict[tuple[str, int], int] = {}
    for part in token.split(","):
        topic, _, rest = part.rpartition(":")
        topic, _, partition = topic.rpartition(":")
        if not topic or not partition.isdigit() or not rest.isdigit():
            raise Problem(
                400, "Bad request", f"min_offset must be topic:partition:offset[,…], got {part!r}"
            )
        if topics is not None and topic not in topics:
            raise Problem(
                400,
                "Bad request",
                f"min_offset names topic {topic[:200]!r}, which the hub does not read;"
                f" the gateway's tokens name {', '.join(topics)}",
            )
        out[(topic, int(partition))] = max(out.get((topic, int(partition)), 0), int(rest))
    return out


async def wait_for_offsets(
    watcher: PositionWatcher, token: str, topics: Sequence[str] | None = None
) -> None:
    """Read-your-writes: wait until the read model has applied everything up to the token.
    The wait wakes on the projector's notification (:mod:`hub.api.offsets`), bounded by
    :data:`MIN_OFFSET_WAIT`."""
    want = parse_min_offset(token, topics)
    try:
        await watcher.wait(want, MIN_OFFSET_WAIT)
    except NotCaughtUp:
        raise Problem(
            503,
            "Not caught up",
            f"the read model has not reached min_offset within {MIN_OFFSET_WAIT:.0f}s; retry",
            headers={"Retry-After": "2"},
        ) from None


MIN_OFFSET_QUERY = Query(
    None,
    max_length=2000,
    examples=["agency.civil:0:0,agency.city:2:0"],
    description="The gateway's min_offset token (`topic:partition:next-offset`, "
    "comma-separated): answer only once the read model has applied those writes "
    "(read-your-writes); 503 with Retry-After if it has not within "
    f"{MIN_OFFSET_WAIT:.0f} s.",
)
MAX_CASE_REF = 200
CASE_REF_HEADER = Header(
    None,
    alias="X-Case-Ref",
    description="The reference of the investigation this replay serves (an inquiry's file "
    f"number, 1 to {MAX_CASE_REF} characters); required, and kept with the audit record.",
)


async def _open(
    request: Request,
    creds: HTTPAuthorizationCredentials | None,
    min_offset: str | None,
    resource: str,
    case_ref: str | None = None,
    needs_case_ref: bool = False,
) -> ReadContext:
    pool: asyncpg.Pool = request.app.state.pool
    tokens: TokenBook = request.app.state.tokens
    client = request.client.host if request.client else None
    purpose = request.headers.get("x-purpose")
    principal = tokens.lookup(creds.credentials) if creds else None
    path = _asked_path(request)
    if principal is None:
        UNAUTHENTICATED.inc()  # counted, not written: anyone can send these
        raise Problem(
            401,
            "Unauthorized",
            "send Authorization: Bearer <token> with a token from HUB_TOKENS",
            headers={"WWW-Authenticate": "Bearer"},
        )
    policy: Policy = request.app.state.policy
    ctx = ReadContext(
        pool,
        request.app.state.audit,
        policy,
        principal,
        _as_typed(purpose),
        client,
        request.method,
        path,
        _path_ids(request),
    )
    typed_ref = unquote(_as_typed(case_ref) or "") or None
    ctx.case_ref = typed_ref[:MAX_CASE_REF] if typed_ref else None
    ctx.rules = getattr(request.app.state, "rules", None)
    request.state.read_context = ctx  # the route audits what the handler leaves unsaid
    try:
        stated = policy.parse_purpose(purpose)
    except PurposeError as exc:
        await ctx.done([], "bad-purpose")
        raise Problem(400, "Bad purpose", str(exc), purposes=sorted(policy.purposes)) from None
    ctx.purpose = stated.stored() if stated else None  # the code and the decoded text
    if "\x00" in request.url.path or any(
        "\x00" in k + v for k, v in request.query_params.multi_items()
    ):
        # PostgreSQL text cannot hold NUL; no id, name or filter contains one.
        await ctx.done([], "bad-request")
        raise Problem(400, "Bad request", "a NUL character is not allowed in a path or query value")
    decision = ctx.policy.decide(principal, resource, ctx.purpose)
    if not decision.allowed:
        await ctx.done([], "denied")
        raise Problem(403, "Forbidden", decision.reason)
    if needs_case_ref and (
        not typed_ref
        or not typed_ref.strip()
        or len(typed_ref) > MAX_CASE_REF
        or not all(_printable(c) for c in typed_ref)
        or len(request.headers.getlist("x-case-ref")) > 1
    ):
        await ctx.done([], "bad-request")
        raise Problem(
            400,
            "Case reference required",
            "replay reads serve an investigation: send one X-Case-Ref with its reference"
            f" (1 to {MAX_CASE_REF} printable characters, percent-encoded UTF-8 or plain; no"
            " control or direction-changing characters)",
        )
    if min_offset:
        await wait_for_offsets(
            request.app.state.offsets, min_offset, request.app.state.inbound_topics
        )
    return ctx


def _printable(c: str) -> bool:
    """A character a case reference may hold: none that is a control (C0, DEL, C1), that
    reorders the text around it (bidirectional overrides and isolates), or that stands for a
    byte sequence that was not UTF-8 (U+FFFD)."""
    cat = unicodedata.category(c)
    return cat not in ("Cc", "Cf", "Cs", "Co", "Cn") and c != "\ufffd"


def reader(resource: str) -> Callable[..., Awaitable[ReadContext]]:
    async def dependency(
        request: Request,
        creds: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
        min_offset: str | None = MIN_OFFSET_QUERY,
    ) -> ReadContext:
        return await _open(request, creds, min_offset, resource)

    return dependency


async def replay_reader(
    request: Request,
    creds: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    x_case_ref: str | None = CASE_REF_HEADER,
) -> ReadContext:
    """Who replays, why, and for which investigation (contract section 8): role investigator
    or auditor, X-Purpose and X-Case-Ref; refused reads are audited like any."""
    return await _open(request, creds, None, "replay", x_case_ref, needs_case_ref=True)
