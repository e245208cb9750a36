"""Who is asking and why: the bearer token, X-Purpose, the policy decision, and the audit
write that every read ends with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub import audit, policy
from hub.api.problems import Problem
from hub.tokens import Principal, TokenBook

bearer = HTTPBearer(auto_error=False, description="A token from the HUB_TOKENS file")


@dataclass
class ReadContext:
    pool: asyncpg.Pool
    principal: Principal
    purpose: str | None
    client: str | None
    method: str
    path: str

    async def done(self, subject_ids: Sequence[str], outcome: str = "ok") -> None:
        """Write the audit record; the answer goes out only after this returns."""
        await audit.write(self.pool, audit.AuditRecord(
            self.principal.user, self.principal.agency, self.principal.role, self.client,
            self.method, self.path, self.purpose, subject_ids, outcome,
        ))


def reader(resource: str) -> Callable[..., Awaitable[ReadContext]]:
    async def dependency(
        request: Request,
        creds: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> ReadContext:
        pool: asyncpg.Pool = request.app.state.pool
        tokens: TokenBook = request.app.state.tokens
        client = request.client.host if request.client else None
        purpose = request.headers.get("x-purpose")
        principal = tokens.lookup(creds.credentials) if creds else None
        path = request.url.path
        if principal is None:
            anonymous = Principal("-", "-", "-")
            await ReadContext(pool, anonymous, purpose, client, request.method, path).done(
                [], "unauthenticated")
            raise Problem(401, "Unauthorized",
                          "send Authorization: Bearer <token> with a token from HUB_TOKENS",
                          headers={"WWW-Authenticate": "Bearer"})
        ctx = ReadContext(pool, principal, purpose, client, request.method, path)
        decision = policy.decide(principal, resource, purpose)
        if not decision.allowed:
            await ctx.done([], "denied")
            raise Problem(403, "Forbidden", decision.reason)
        return ctx

    return dependency
