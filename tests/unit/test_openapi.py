"""The OpenAPI document is what agencies and the command center build against: every
operation shows an example answer, every path parameter an example value, and every
contract section 5 path is there."""

from __future__ import annotations

from typing import Any

import pytest

from hub.api.app import create_app
from hub.config import load_settings
from hub.tokens import TokenBook

CONTRACT_PATHS = [
    "/v1/persons/{person_id}",
    "/v1/persons",
    "/v1/places/{place_id}",
    "/v1/places",
    "/v1/cases/{case_id}",
    "/v1/cases",
    "/v1/cases/{case_id}/timeline",
    "/v1/grids/{grid}",
    "/v1/audit/subjects/{person_id}",
    "/healthz",
    "/metrics",
    "/v1/events",
    "/v1/feed",
]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app(load_settings(), TokenBook({})).openapi()


def test_every_contract_path_is_documented(spec: dict[str, Any]) -> None:
    assert set(CONTRACT_PATHS) <= set(spec["paths"])


def test_every_operation_has_an_example_answer_and_example_path_parameters(
    spec: dict[str, Any],
) -> None:
    missing = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            ok = [r for code, r in op["responses"].items() if code.startswith("2")]
            if not any(
                "example" in c or "examples" in c for r in ok for c in r.get("content", {}).values()
            ):
                missing.append(f"{method.upper()} {path}: no example answer")
            for p in op.get("parameters", []):
                schema = p.get("schema", {})
                if p["in"] == "path" and not (
                    {"example", "examples"} & (set(p) | set(schema)) or "enum" in schema
                ):
                    missing.append(f"{method.upper()} {path}: no example for {p['name']}")
    assert missing == []
