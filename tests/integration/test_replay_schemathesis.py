"""Given the API's OpenAPI document, when schemathesis generates requests to the replay
routes with an investigator's token, a purpose and a case reference, then no answer is a 5xx
and none breaks the schema the document gives for it (as the other routes in
test_schemathesis.py)."""

from __future__ import annotations

import httpx

from tests.integration.conftest import Worker
from tests.integration.test_schemathesis import pytestmark, run_st

__all__ = ["pytestmark"]


async def test_replay_answers_no_5xx_and_keeps_its_schema(
    api: httpx.AsyncClient, main_worker: Worker
) -> None:
    base = str(api.base_url).rstrip("/")
    code, text = await run_st(
        base,
        "replay",
        "--header",
        "Authorization: Bearer police-token-0123456789abcdef",
        "--header",
        "X-Purpose: investigation",
        "--header",
        "X-Case-Ref: INQ-fuzz",
        "--include-path-regex",
        "^/v1/replay/(chronology|exports)",
    )
    assert code == 0, text[-6000:]
