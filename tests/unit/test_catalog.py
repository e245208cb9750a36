"""The event catalog: every contract type has a schema, data are checked with clear reasons."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas.catalog import GRADES, field_grades, load_catalog, validate_data
from schemas.envelope import Rejected, parse_envelope

CONTRACT_TYPES = {
    "civil.resident.registered",
    "civil.resident.moved",
    "civil.resident.deceased",
    "civil.assistance.granted",
    "city.case.reported",
    "city.case.registered",
    "city.case.dispatched",
    "city.case.handled",
    "city.case.verified",
    "city.case.closed",
    "city.case.escalated",
    "police.incident.reported",
    "police.incident.referred",
    "police.case.opened",
    "police.person.involved",
    "police.case.closed",
    "court.case.filed",
    "court.mediation.concluded",
    "court.hearing.scheduled",
    "court.judgment.issued",
    "court.case.sealed",
    # contract section 7 (v1.1): coordination
    "city.case.returned",
    "city.case.extended",
    "city.feedback.recorded",
    "court.mediation.assigned",
}


def envelope(etype: str, data: dict[str, Any]):  # type: ignore[no-untyped-def]
    agency = etype.split(".")[0]
    doc = {
        "specversion": "1.0",
        "id": "e",
        "source": f"/agency/{agency}/test",
        "type": etype,
        "agency": agency,
        "time": "2026-11-23T08:00:00+08:00",
        "subject": "x",
        "data": data,
    }
    return parse_envelope(orjson.dumps(doc), agency, (agency,))


def test_every_contract_type_has_a_v1_schema() -> None:
    assert {t for (t, v) in load_catalog() if v == 1} == CONTRACT_TYPES


def test_every_field_has_a_data_grade() -> None:
    for t in CONTRACT_TYPES:
        grades = field_grades(t)
        assert grades, t
        assert set(grades.values()) <= set(GRADES), t


def test_a_national_id_is_secret_and_a_grid_is_public() -> None:
    g = field_grades("civil.resident.registered")
    assert g["person.national_id"] == "secret"
    assert g["address.grid"] == "public"


def test_a_valid_city_report_passes() -> None:
    validate_data(
        envelope(
            "city.case.reported",
            {
                "case_id": "C-1",
                "category": "noise",
                "description": "楼上噪音",
                "channel": "hotline",
                "address": {"text": "某路1号", "grid": "110105001001"},
                "persons": [{"role": "party", "person": {"name": "张三"}}],
            },
        )
    )


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (
            {
                "case_id": "C-1",
                "category": "noise",
                "description": "d",
                "channel": "fax",
                "address": {"text": "t"},
            },
            "channel",
            "must be one of",
        ),
        (
            {"case_id": "C-1", "category": "noise", "description": "d", "channel": "hotline"},
            "address",
            "required",
        ),
        (
            {
                "case_id": "C-1",
                "category": "noise",
                "description": "d",
                "channel": "hotline",
                "address": {"text": "t"},
                "reporter": {"name": ""},
            },
            "reporter.name",
            "must be longer",
        ),
        (
            {
                "case_id": "C-1",
                "category": "noise",
                "description": "d",
                "channel": "hotline",
                "address": {"text": "t"},
                "urgent": True,
            },
            None,
            "not in the schema",
        ),
    ],
)
def test_a_bad_city_report_says_which_field_and_why(
    data: dict[str, Any], field: str | None, words: str
) -> None:
    with pytest.raises(Rejected) as info:
        validate_data(envelope("city.case.reported", data))
    assert info.value.reason == "invalid-data"
    assert info.value.field == field
    assert words in info.value.detail


def test_an_unknown_type_is_rejected() -> None:
    with pytest.raises(Rejected) as info:
        validate_data(envelope("city.case.teleported", {}))
    assert info.value.reason == "unknown-type"


def test_an_unknown_version_names_the_known_ones() -> None:
    env = envelope("city.case.closed", {"case_id": "C", "outcome": "o"})
    env = env.__class__(
        **{**{f: getattr(env, f) for f in env.__slots__}, "dataschema": "x/city.case.closed/v9"}
    )
    with pytest.raises(Rejected) as info:
        validate_data(env)
    assert info.value.reason == "unknown-version"
    assert "v1" in info.value.detail
