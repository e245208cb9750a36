"""Given hostile structures an attacker (or a broken agency system) can send, when the
intake checks them, then each is rejected with a reason and the check itself never fails:
deep nesting, huge arrays and objects, NUL, lone surrogates, numbers beyond float range,
wrong types in envelope fields, another agency's source."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.sim import story
from projections.intake import InboundRecord, RejectedRecord, check, split

AGENCIES = ("police", "city", "civil", "court")
BASE = story.story(seed=5, n_residents=4)[0]  # a civil registration


def record(value: bytes, topic: str = "agency.civil") -> InboundRecord:
    return InboundRecord(topic, 0, 0, None, value)


def with_data(extra: object) -> bytes:
    doc = dict(BASE)
    doc["data"] = {**BASE["data"], "note": extra}
    return orjson.dumps(doc)


def nested(depth: int, leaf: bytes = b'"\\u0000"') -> bytes:
    """An event whose data nests ``leaf`` ``depth`` objects deep (built as bytes: the
    serializer has a depth limit of its own)."""
    return with_data("HOLE").replace(b'"HOLE"', b'{"x":' * depth + leaf + b"}" * depth)


HOSTILE = {
    "nul 990 levels deep": nested(990),
    "nesting deeper than the limit": nested(40, b'"ok"'),
    "nesting beyond the JSON parser's own limit": b'{"a":' * 2000 + b"1" + b"}" * 2000,
    "an array of 100,000 items": with_data(list(range(100_000))),
    "an object of 5,000 keys": with_data({str(i): i for i in range(5_000)}),
    "a 1 MB string": with_data("字" * 300_000),
    "NUL in a string": with_data("a\u0000b"),
    "NUL in a key": with_data({"a\u0000": 1}),
    "a lone surrogate": with_data("x").replace(b'"x"', b'"\\ud800"'),
    "a number beyond float range": with_data(1).replace(b'"note":1', b'"note":1e400'),
    "a duplicate key in data": with_data(1).replace(b'"note":1', b'"note":1,"note":2'),
    "a duplicate key in the envelope": orjson.dumps(BASE).replace(b'"id":', b'"id":"x","id":', 1),
    "an integer beyond 64 bits": with_data(1).replace(b'"note":1', b'"note":' + b"9" * 30),
    "the id as a number": orjson.dumps({**BASE, "id": 7}),
    "the data as a list": orjson.dumps({**BASE, "data": [1, 2]}),
    "another agency's source": orjson.dumps({**BASE, "source": "/agency/police/cad"}),
    "a source outside any agency": orjson.dumps({**BASE, "source": "/civil/registry"}),
    "not JSON at all": b"\xff\xfe{",
    "an empty record": b"",
}


@pytest.mark.parametrize("what", sorted(HOSTILE))
def test_each_hostile_record_is_rejected_with_a_reason(what: str) -> None:
    out = check(record(HOSTILE[what]), AGENCIES)
    assert isinstance(out, RejectedRecord), what
    assert out.reason and out.detail
    assert out.reason != "invalid-data" or what in ("the data as a list",), (what, out.reason)


def test_a_forged_source_names_the_namespace() -> None:
    out = check(record(HOSTILE["another agency's source"]), AGENCIES)
    assert isinstance(out, RejectedRecord)
    assert (out.reason, out.field) == ("forged-source", "source")
    assert "/agency/civil/" in out.detail


def test_valid_records_after_hostile_ones_still_pass() -> None:
    records = [record(v) for v in HOSTILE.values()] + [record(orjson.dumps(BASE))]
    accepted, rejected = split(records, AGENCIES)
    assert len(rejected) == len(HOSTILE) and len(accepted) == 1


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 3000), st.sampled_from(["dict", "list"]), st.text(max_size=3))
def test_any_depth_of_nesting_is_rejected_or_accepted_never_raises(
    depth: int, kind: str, leaf: str
) -> None:
    opening, closing = (b'{"k":', b"}") if kind == "dict" else (b"[", b"]")
    value = with_data("HOLE").replace(
        b'"HOLE"', opening * depth + orjson.dumps(leaf) + closing * depth
    )
    out = check(record(value), AGENCIES)
    # rejected either way (the schema has no "note"); the shape check speaks first, and
    # only past the limit: data is 1 level, note 2, …, 31 levels inside note reach 32
    assert isinstance(out, RejectedRecord)
    deep = out.reason == "too-deep" or out.reason == "malformed-json"  # the parser's own limit
    assert deep == (depth >= 31), (depth, out.reason)
