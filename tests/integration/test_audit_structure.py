"""Given every /v1 route the app serves, when it is called (allowed, refused, missing or
malformed), then its audit record is in the log before the answer arrives: audit is the
route's structure, not each handler's habit. Unauthenticated attempts are counted, not
written."""

from __future__ import annotations

import re

import asyncpg
import httpx
from starlette.routing import Route

from hub.api.app import create_app
from hub.api.context import AuditedRoute, all_routes
from hub.config import Settings
from hub.tokens import TokenBook
from tests.integration.conftest import CC, TOKENS, Worker, unique

# A value for each path parameter: ids that exist nowhere (the reads answer 404 or 403).
SAMPLE = {
    "person_id": "P-0000000000000000",
    "case_id": "C-0000000000000000",
    "place_id": "PL-0000000000000000",
    "grid": "11010500100101",
    "decision_id": "D-00000000000000000000",
    "verdict": "reject",
}


def _v1_routes(hub: Settings) -> list[tuple[str, str]]:
    app = create_app(hub, TokenBook(dict(TOKENS)))
    out = []
    for r in all_routes(app.routes):
        if isinstance(r, Route) and r.path.startswith("/v1"):
            for m in sorted(r.methods or ()):
                if m != "HEAD":
                    out.append((m, r.path))
    return out


async def _rows_for(db: asyncpg.Pool, path: str, since: int) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT * FROM audit_log WHERE id > $1 AND path LIKE $2 || '%'", since, path
    )


async def test_every_v1_route_answers_only_with_its_audit_record(
    hub: Settings, api: httpx.AsyncClient, db: asyncpg.Pool, main_worker: Worker
) -> None:
    routes = _v1_routes(hub)
    assert len(routes) >= 12, routes  # the walk covers the API, not a few routes
    app = create_app(hub, TokenBook(dict(TOKENS)))
    assert all(
        isinstance(r, AuditedRoute)
        for r in all_routes(app.routes)
        if getattr(r, "path", "").startswith("/v1")
    )
    missing = []
    for method, template in routes:
        path = re.sub(r"{(\w+)}", lambda m: SAMPLE.get(m[1], "x"), template)
        mark = unique("q")
        since = await db.fetchval("SELECT coalesce(max(id), 0) FROM audit_log")
        url = f"{path}?mark={mark}"
        if template == "/v1/feed":  # a stream: its record is written as it opens
            async with api.stream("GET", url, headers=CC) as r:
                status = r.status_code
        else:
            r = await api.request(
                method, url, headers=CC, content=b"{}" if method == "POST" else None
            )
            status = r.status_code
        rows = await _rows_for(db, path, since)
        if not any(mark in row["path"] for row in rows):
            missing.append((method, template, status))
    assert missing == []


async def test_refused_and_missing_reads_name_whom_they_asked_about(
    api: httpx.AsyncClient, db: asyncpg.Pool, main_worker: Worker
) -> None:
    pid = "P-" + unique("x").split("-")[1].ljust(16, "0")
    since = await db.fetchval("SELECT coalesce(max(id), 0) FROM audit_log")
    assert (await api.get(f"/v1/persons/{pid}", headers=CC)).status_code == 404
    no_purpose = {"Authorization": CC["Authorization"]}
    assert (await api.get(f"/v1/persons/{pid}", headers=no_purpose)).status_code == 403
    assert (await api.get(f"/v1/persons/{pid}?limit=x", headers=CC)).status_code in (200, 404)
    rows = await db.fetch(
        "SELECT outcome, subject_ids FROM audit_log WHERE id > $1 AND path LIKE $2 ORDER BY id",
        since,
        f"/v1/persons/{pid}%",
    )
    assert [r["outcome"] for r in rows][:2] == ["not-found", "denied"]
    assert all(pid in r["subject_ids"] for r in rows)
    # …and so the person's own audit trail shows them
    trail = await api.get(
        f"/v1/audit/subjects/{pid}",
        headers={
            "Authorization": "Bearer aud-token-0123456789abcdef",
            "X-Purpose": CC["X-Purpose"],
        },
    )
    assert trail.status_code == 200, trail.text
    assert {i["outcome"] for i in trail.json()["items"]} >= {"not-found", "denied"}


async def test_the_full_query_is_kept_and_anonymous_requests_are_counted_not_written(
    api: httpx.AsyncClient, db: asyncpg.Pool, main_worker: Worker
) -> None:
    mark = unique("name")
    since = await db.fetchval("SELECT coalesce(max(id), 0) FROM audit_log")
    await api.get("/v1/persons", params={"name": "欧阳" + mark}, headers=CC)
    row = await db.fetchrow(
        "SELECT path FROM audit_log WHERE id > $1 AND path LIKE"
        " '/v1/persons?%' ORDER BY id DESC LIMIT 1",
        since,
    )
    assert row is not None and mark in row["path"] and "name=" in row["path"]

    def counted(text: str) -> float:
        m = re.search(r"^hub_api_unauthenticated_total ([0-9.e+]+)$", text, re.M)
        return float(m[1]) if m else 0.0

    before = counted((await api.get("/metrics")).text)
    since = await db.fetchval("SELECT coalesce(max(id), 0) FROM audit_log")
    long_path = "/v1/persons/" + "x" * 60_000
    for _ in range(5):
        assert (await api.get(long_path)).status_code == 401
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE id > $1", since) == 0
    assert counted((await api.get("/metrics")).text) >= before + 5
