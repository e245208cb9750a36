"""Given the hub's answers (the page, its assets, the API, the docs), then each carries a
Content-Security-Policy that allows nothing inline but the docs' own script by its hash,
forbids framing (X-Frame-Options DENY, frame-ancestors 'none'), nosniff and no-referrer.
The page working under its policy is checked in a real browser (test_browser.py)."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from hub.api.headers import PAGE_POLICY


def policy(r: httpx.Response) -> dict[str, str]:
    return {
        d.split()[0]: d.partition(" ")[2]
        for d in (x.strip() for x in r.headers["content-security-policy"].split(";"))
        if d
    }


@pytest.mark.parametrize(
    "path", ["/", "/ui/app.js", "/ui/style.css", "/openapi.json", "/healthz", "/v1/persons/x"]
)
async def test_every_answer_carries_the_headers(api: httpx.AsyncClient, path: str) -> None:
    r = await api.get(path)
    assert r.status_code < 500
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["content-security-policy"] == PAGE_POLICY
    p = policy(r)
    assert p["frame-ancestors"] == "'none'"
    assert p["script-src"] == "'self'" and "unsafe" not in r.headers["content-security-policy"]
    assert p["object-src"] == "'none'" and p["base-uri"] == "'none'"


async def test_the_docs_allow_their_inline_script_by_its_hash_only(api: httpx.AsyncClient) -> None:
    r = await api.get("/docs")
    assert r.status_code == 200
    (script,) = re.findall(rb"<script>(.*?)</script>", r.content, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
    p = policy(r)
    assert p["script-src"] == f"'self' 'sha256-{digest}'"
    assert p["frame-ancestors"] == "'none'" and r.headers["x-frame-options"] == "DENY"
