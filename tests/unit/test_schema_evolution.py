"""Schema evolution: published versions never change, old events are upcast and readable as
the newest, and a change that old events could not be read under is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from projections.intake import InboundRecord, check
from schemas import compat
from schemas.catalog import SCHEMA_DIR, load_catalog, validate_data
from schemas.envelope import Rejected, check_envelope


def test_the_committed_catalog_keeps_every_rule() -> None:
    assert compat.problems() == []


@pytest.fixture
def schemas_copy(tmp_path: Path) -> Path:
    root = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return root


def test_editing_a_published_version_is_refused(schemas_copy: Path) -> None:
    v1 = schemas_copy / "city" / "city.case.closed.v1.json"
    doc = orjson.loads(v1.read_bytes())
    doc["properties"]["closed_by"] = {"type": "string"}
    doc["required"].append("closed_by")
    v1.write_bytes(orjson.dumps(doc))
    found = compat.problems(schemas_copy, schemas_copy / "catalog.lock.json")
    assert any("city.case.closed.v1.json: a published schema changed" in p for p in found)


def test_a_new_version_old_events_cannot_be_read_under_is_refused(schemas_copy: Path) -> None:
    v2 = orjson.loads((schemas_copy / "city" / "city.case.reported.v2.json").read_bytes())
    v2["properties"]["severity"] = {"type": "integer"}
    v2["required"].append("severity")  # old events have none, and no upcaster gives one
    (schemas_copy / "city" / "city.case.reported.v3.json").write_bytes(orjson.dumps(v2))
    found = compat.problems(schemas_copy, schemas_copy / "catalog.lock.json")
    assert any("no upcaster chain to v3" in p for p in found)


def test_every_invalid_example_is_rejected_with_a_field_and_a_reason() -> None:
    for t, v in load_catalog():
        for case in compat.examples(t, v)["invalid"]:
            agency = t.split(".")[0]
            env = check_envelope(
                {
                    "specversion": "1.0",
                    "id": "x",
                    "source": f"/agency/{agency}/test",
                    "type": t,
                    "agency": agency,
                    "time": "2026-11-23T08:00:00+08:00",
                    "subject": "s",
                    "data": case["data"],
                    "dataschema": f"x/{t}/v{v}",
                },
                agency,
                (agency,),
            )
            with pytest.raises(Rejected) as info:
                validate_data(env)
            assert info.value.reason == "invalid-data" and info.value.detail, (t, case["why"])


def test_a_v1_city_report_is_upcast_on_read_and_archived_as_sent() -> None:
    data = compat.examples("city.case.reported", 1)["valid"][0]
    assert "urgency" not in data
    doc = {
        "specversion": "1.0",
        "id": "x",
        "source": "/agency/city/test",
        "type": "city.case.reported",
        "agency": "city",
        "time": "2026-11-23T08:00:00+08:00",
        "subject": "s",
        "data": data,
    }
    accepted = check(InboundRecord("agency.city", 0, 0, None, orjson.dumps(doc)), ("city",))
    assert not isinstance(accepted, type(None))
    assert accepted.env.data["urgency"] == "normal"  # type: ignore[union-attr]
    assert "urgency" not in accepted.env.raw["data"]  # type: ignore[union-attr]
    assert accepted.env.schema_version == 1  # type: ignore[union-attr]


def test_a_v2_city_report_needs_its_urgency() -> None:
    data = compat.examples("city.case.reported", 1)["valid"][0]
    doc = {
        "specversion": "1.0",
        "id": "x",
        "source": "/agency/city/test",
        "type": "city.case.reported",
        "agency": "city",
        "time": "2026-11-23T08:00:00+08:00",
        "subject": "s",
        "data": data,
        "dataschema": "https://civic-hub.example/schemas/city/city.case.reported/v2",
    }
    rejected = check(InboundRecord("agency.city", 0, 0, None, orjson.dumps(doc)), ("city",))
    assert getattr(rejected, "field", None) == "urgency"


def test_the_committed_asyncapi_document_is_current() -> None:
    from schemas import asyncapi

    assert asyncapi.OUT.read_text() == asyncapi.render(), (
        "schemas/asyncapi.yaml is stale: run `python -m schemas.asyncapi --write`"
    )
