"""Property: whatever bytes arrive, the intake accepts or rejects each record with a reason,
never raises, and the counts add up; what it accepts, the projection can apply."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.sim import story
from projections.intake import InboundRecord, check, split
from projections.memory import InMemoryReadModel
from projections.project import Accepted

AGENCIES = ("police", "city", "civil", "court")
SAMPLES = story.story(seed=5, n_residents=4) + story.bulk(
    seed=6, n_residents=4, n_cases=4, prefix="h"
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def _set_path(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    if isinstance(doc, dict) and path[0] in doc:
        doc = dict(doc)
        doc[path[0]] = _set_path(doc[path[0]], path[1:], value)
    return doc


def _paths(doc: Any, prefix: list[str] | None = None) -> list[list[str]]:
    prefix = prefix or []
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, [*prefix, k])
    return out


@st.composite
def records(draw: st.DrawFn) -> InboundRecord:
    base = draw(st.sampled_from(SAMPLES))
    kind = draw(
        st.sampled_from(["valid", "bytes", "truncated", "wrong-type", "huge", "forged", "nul"])
    )
    topic = f"agency.{base['agency']}"
    if kind == "valid":
        value = orjson.dumps(base)
    elif kind == "bytes":
        value = draw(st.binary(max_size=200))
    elif kind == "truncated":
        full = orjson.dumps(base)
        value = full[: draw(st.integers(0, len(full) - 1))]
    elif kind == "wrong-type":
        path = draw(st.sampled_from(_paths(base)))
        value = orjson.dumps(_set_path(base, path, draw(json_values)))
    elif kind == "huge":
        path = draw(st.sampled_from(_paths(base)))
        value = orjson.dumps(_set_path(base, path, "字" * draw(st.integers(500, 400_000))))
    elif kind == "forged":
        topic = f"agency.{draw(st.sampled_from([a for a in AGENCIES if a != base['agency']]))}"
        value = orjson.dumps(base)
    else:
        path = draw(st.sampled_from(_paths(base)))
        value = orjson.dumps(_set_path(base, path, "a\x00b"))
    return InboundRecord(topic, 0, draw(st.integers(0, 10**9)), None, value)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(records(), max_size=12))
def test_every_record_is_accepted_or_rejected_with_a_reason(batch: list[InboundRecord]) -> None:
    accepted, rejected = split(batch, AGENCIES)
    first: dict[tuple[str, str], object] = {}
    duplicates = 0  # identical copies count once; a copy with other content is rejected
    for rec in batch:
        one = check(rec, AGENCIES)
        if isinstance(one, Accepted):
            content = (one.env.type, one.env.raw["data"])
            duplicates += (
                first.setdefault(one.env.key, content) == content
                and first[one.env.key] is not content
            )
    assert len(accepted) + len(rejected) + duplicates == len(batch)
    assert len({a.env.key for a in accepted}) == len(accepted)
    for r in rejected:
        assert r.reason and r.detail
    for a in accepted:
        assert a.topic == f"agency.{a.env.agency}"
    # What the intake accepts, the projection applies without error.
    InMemoryReadModel().apply(accepted)


def test_a_forged_record_is_never_accepted() -> None:
    e = SAMPLES[0]
    accepted, rejected = split(
        [InboundRecord("agency.police", 0, 0, None, orjson.dumps(e))], AGENCIES
    )
    assert not accepted and rejected[0].reason == "forged-agency"
