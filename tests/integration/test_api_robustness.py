"""No input makes the API fail: every GET route, with hostile path segments and query values
(a seeded, repeatable corpus), answers 2xx, or 4xx with an RFC 9457 problem — never 5xx."""

from __future__ import annotations

import random
from urllib.parse import quote

import httpx

from tests.integration.conftest import CC
from tests.integration.test_command_center_api import AUDITOR

NASTY = [
    "",
    " ",
    "'",
    '"',
    "%",
    "%00",
    "\x00",
    "\n",
    "\t",
    "\\",
    "/",
    "..",
    "../..",
    "a" * 5000,
    "😀",
    "张三",
    "-1",
    "0",
    "99999999999999999999",
    "1e309",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
    "C-",
    "P-" + "f" * 100,
    "agency.city:0:-1",
    ":::",
    ",",
    "a:b:c",
    "<script>",
    "'; DROP TABLE audit_log; --",
    "\u202e",
    "\ufeff",
    "x" * 70,
]
ROUTES = [
    "/v1/persons/{v}",
    "/v1/persons?national_id={v}",
    "/v1/persons?name={v}",
    "/v1/persons?name=张三&cursor={v}",
    "/v1/persons?name=张三&limit={v}",
    "/v1/persons/{v}/candidates",
    "/v1/places/{v}",
    "/v1/places?address={v}",
    "/v1/places?grid={v}",
    "/v1/places?grid=110105001001&cursor={v}",
    "/v1/cases/{v}",
    "/v1/cases/{v}/timeline",
    "/v1/cases?grid={v}",
    "/v1/cases?status={v}",
    "/v1/cases?stage={v}&category={v}",
    "/v1/cases?overdue={v}",
    "/v1/cases?agency={v}",
    "/v1/cases?limit={v}",
    "/v1/cases?cursor={v}",
    "/v1/grids/{v}",
    "/v1/grids?min_offset={v}",
    "/v1/persons/P-0?min_offset={v}",
    "/v1/audit/subjects/{v}",
    "/v1/audit/subjects/P-0?cursor={v}",
]


async def test_no_input_makes_a_read_fail(api: httpx.AsyncClient) -> None:
    rng = random.Random(20261123)
    failures = []
    for route in ROUTES:
        values = NASTY + [
            "".join(rng.choice("aZ9-_:%.,/\\'\"张😀\x01 ") for _ in range(rng.randint(1, 40)))
            for _ in range(10)
        ]
        for v in values:
            path = route.replace("{v}", quote(v, safe=""))
            headers = AUDITOR if "/audit/" in route else CC
            r = await api.get(path, headers=headers)
            if r.status_code >= 500:
                failures.append((path[:120], r.status_code, r.text[:200]))
            elif r.status_code >= 400:
                assert r.headers["content-type"] == "application/problem+json", (path, r.text)
    assert failures == [], "\n".join(map(repr, failures))
