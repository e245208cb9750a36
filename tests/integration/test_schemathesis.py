"""Given the API's own OpenAPI document, when schemathesis generates requests from it (each
operation, with a command-center token and a purpose, and the gateway with an agency
system's), then no answer is a 5xx and none breaks the schema the document gives for it.
Bounded in time (--max-time) and in examples; the seed is fixed, so a failure reproduces."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Worker

ST = Path(sys.executable).with_name("st")
pytestmark = pytest.mark.skipif(
    not ST.exists() and shutil.which("st") is None, reason="schemathesis is not installed"
)
OUT = Path(__file__).resolve().parents[2] / "test-output" / "schemathesis"
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


async def run_st(base: str, name: str, *args: str) -> tuple[int, str]:
    OUT.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        str(ST if ST.exists() else shutil.which("st")),
        "run",
        f"{base}/openapi.json",
        "--checks",
        CHECKS,
        "--workers",
        "1",
        "--seed",
        "20261202",
        "--max-time",
        "30",
        "--max-examples",
        "25",
        "--request-timeout",
        "15",
        "--no-color",
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-junit-path",
        str(OUT / f"{name}.xml"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()  # the API serves from this loop meanwhile
    text = out.decode(errors="replace")
    (OUT / f"{name}.txt").write_text(text)
    return proc.returncode or 0, text


async def test_reads_answer_no_5xx_and_keep_their_schema(
    api: httpx.AsyncClient, main_worker: Worker
) -> None:
    base = str(api.base_url).rstrip("/")
    code, text = await run_st(
        base,
        "reads",
        "--header",
        "Authorization: Bearer cc-token-0123456789abcdef",
        "--header",
        "X-Purpose: case-handling",
        "--exclude-path",
        "/v1/events",
        "--exclude-path-regex",
        "^/v1/(feed|audit)",
    )
    assert code == 0, text[-6000:]


async def test_the_audit_log_answers_no_5xx_and_keeps_its_schema(
    api: httpx.AsyncClient, main_worker: Worker
) -> None:
    base = str(api.base_url).rstrip("/")
    code, text = await run_st(
        base,
        "audit",
        "--header",
        "Authorization: Bearer aud-token-0123456789abcdef",
        "--header",
        "X-Purpose: audit-review",
        "--include-path-regex",
        "^/v1/audit",
    )
    assert code == 0, text[-6000:]


async def test_the_gateway_answers_no_5xx_and_keeps_its_schema(
    api: httpx.AsyncClient, main_worker: Worker
) -> None:
    base = str(api.base_url).rstrip("/")
    code, text = await run_st(
        base,
        "gateway",
        "--header",
        "Authorization: Bearer sys-token-0123456789abcdef",
        "--include-path",
        "/v1/events",
    )
    assert code == 0, text[-6000:]
