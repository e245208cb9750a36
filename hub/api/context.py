"""Who is asking and why: the bearer token, X-Purpose, the policy decision, and the audit
write that every read ends with."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub import audit
from hub.api.problems import Problem
from hub.policy import Policy, PurposeError
from hub.tokens import Principal, TokenBook
from projections.db import reached, read_positions

bearer = HTTPBearer(auto_error=False, description="A token from the HUB_TOKENS file")


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

    async def done(self, subject_ids: Sequence[str], outcome: str = "ok") -> None:
        """Write the audit record; the answer goes out only after this returns."""
        await self.audit.write(audit.AuditRecord(
            self.principal.user, self.principal.agency, self.principal.role, self.client,
            self.method, _storable(self.path), _storable(self.purpose), subject_ids, outcome,
        ))


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


def parse_min_offset(token: str) -> dict[tuple[str, int], int]:
    """``topic:partition:offset[,…]`` as the gateway returns it in ``min_offset``."""
    out: dict[tuple[str, int], int] = {}
    for part in token.split(","):
        topic, _, rest = part.rpartition(":")
        topic, _, partition = topic.rpartition(":")
        if not topic or not partition.isdigit() or not rest.isdigit():
            raise Problem(400, "Bad request", f"min_offset must be topic:partition:offset[,…], "
                          f"got {part!r}")
        out[(topic, int(partition))] = max(out.get((topic, int(partition)), 0), int(rest))
    return out


async def wait_for_offsets(pool: asyncpg.Pool, consumer: str, token: str) -> None:
    """Read-your-writes: wait until the read model has applied everything up to the token."""
    want = parse_min_offset(token)
    deadline = time.monotonic() + MIN_OFFSET_WAIT
    while True:
        if reached(await read_positions(pool, consumer), want):
            return
        if time.monotonic() > deadline:
            raise Problem(503, "Not caught up",
                          f"the read model has not reached min_offset within "
                          f"{MIN_OFFSET_WAIT:.0f}s; retry", headers={"Retry-After": "2"})
        await asyncio.sleep(0.02)


def reader(resource: str) -> Callable[..., Awaitable[ReadContext]]:
    async def dependency(
        request: Request,
        creds: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
        min_offset: str | None = Query(
            None, max_length=2000, examples=["agency.civil:0:1234,agency.city:2:88"],
            description="The gateway's min_offset token: answer only once the read model "
            "has applied those writes (read-your-writes)."),
    ) -> ReadContext:
        pool: asyncpg.Pool = request.app.state.pool
        tokens: TokenBook = request.app.state.tokens
        client = request.client.host if request.client else None
        purpose = request.headers.get("x-purpose")
        principal = tokens.lookup(creds.credentials) if creds else None
        path = request.url.path
        if principal is None:
            anonymous = Principal("-", "-", "-")
            await ReadContext(pool, request.app.state.audit, request.app.state.policy,
                              anonymous, purpose, client, request.method, path).done(
                [], "unauthenticated")
            raise Problem(401, "Unauthorized",
                          "send Authorization: Bearer <token> with a token from HUB_TOKENS",
                          headers={"WWW-Authenticate": "Bearer"})
        policy: Policy = request.app.state.policy
        ctx = ReadContext(pool, request.app.state.audit, policy, principal, _as_typed(purpose),
                          client, request.method, path)
        try:
            stated = policy.parse_purpose(purpose)
        except PurposeError as exc:
            await ctx.done([], "bad-purpose")
            raise Problem(400, "Bad purpose", str(exc), purposes=sorted(policy.purposes)
                          ) from None
        ctx.purpose = stated.stored() if stated else None  # the code and the decoded text
        if "\x00" in request.url.path or any(
                "\x00" in k + v for k, v in request.query_params.multi_items()):
            # PostgreSQL text cannot hold NUL; no id, name or filter contains one.
            await ctx.done([], "bad-request")
            raise Problem(400, "Bad request", "a NUL character is not allowed in a path or "
                          "query value")
        decision = ctx.policy.decide(principal, resource, ctx.purpose)
        if not decision.allowed:
            await ctx.done([], "denied")
            raise Problem(403, "Forbidden", decision.reason)
        if min_offset:
            await wait_for_offsets(pool, request.app.state.consumer, min_offset)
        return ctx

    return dependency
