"""The CloudEvents envelope: what is accepted, and the reason given for what is not."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas.envelope import Rejected, parse_envelope, parse_time

AGENCIES = ("police", "city", "civil", "court")


def ev(**over: Any) -> dict[str, Any]:
    base = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/agency/civil/registry",
        "agency": "civil",
        "type": "civil.resident.moved",
        "time": "2026-11-23T08:15:00+08:00",
        "subject": "R-1",
        "data": {"resident_id": "R-1"},
    }
    base.update(over)
    return base


def reject(doc: Any, topic_agency: str | None = "civil") -> Rejected:
    raw = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    with pytest.raises(Rejected) as info:
        parse_envelope(raw, topic_agency, AGENCIES)
    return info.value


def test_a_well_formed_event_parses() -> None:
    env = parse_envelope(orjson.dumps(ev()), "civil", AGENCIES)
    assert env.key == ("/agency/civil/registry", "e-1")
    assert env.time.utcoffset() is not None
    assert env.schema_version == 1


def test_dataschema_names_the_version() -> None:
    env = parse_envelope(
        orjson.dumps(ev(dataschema="https://x/schemas/civil/t/v2")), "civil", AGENCIES
    )
    assert env.schema_version == 2


@pytest.mark.parametrize(
    ("doc", "reason", "field"),
    [
        (b"{oops", "malformed-json", None),
        (b"[1, 2]", "malformed-envelope", None),
        ({k: v for k, v in ev().items() if k != "subject"}, "missing-attribute", "subject"),
        (ev(specversion="0.3"), "bad-attribute", "specversion"),
        (ev(id=""), "bad-attribute", "id"),
        (ev(id=7), "bad-attribute", "id"),
        (ev(time="2026-11-23T08:15:00"), "bad-attribute", "time"),
        (ev(time="yesterday"), "bad-attribute", "time"),
        (ev(type="resident-moved"), "bad-attribute", "type"),
        (ev(data=[1]), "bad-attribute", "data"),
        (ev(agency="mars"), "unknown-agency", "agency"),
        (ev(id="x" * 600), "bad-attribute", "id"),
    ],
)
def test_bad_envelopes_are_rejected_with_a_reason(doc: Any, reason: str, field: str | None) -> None:
    r = reject(doc)
    assert (r.reason, r.field) == (reason, field)
    assert r.detail


def test_an_event_claiming_another_agency_than_its_topic_is_forged() -> None:
    r = reject(ev(agency="police", type="police.case.opened"), topic_agency="civil")
    assert r.reason == "forged-agency"
    assert "police" in r.detail and "civil" in r.detail


def test_a_type_of_another_agency_is_forged() -> None:
    r = reject(ev(type="court.case.sealed"))
    assert r.reason == "forged-agency"


@pytest.mark.parametrize(
    "value",
    ["2026-11-23T08:15:00Z", "2026-11-23T08:15:00.123456789+08:00", "2026-11-23 08:15:00-05:00"],
)
def test_rfc3339_times_with_an_offset_parse(value: str) -> None:
    assert parse_time(value).utcoffset() is not None
