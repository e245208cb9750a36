"""Given CloudEvents whose JSON text holds a key twice (in the envelope or in data, at any
depth), an integer beyond int64 or a number beyond float range, when the intake reads them,
then each is rejected with its reason and the key's path; and given any JSON text without
them (colons and escapes in keys and strings included), the intake reads exactly what orjson
reads. The check for duplicates is a count, so it is proven against an exact reader here."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.sim import story
from projections.intake import InboundRecord, RejectedRecord, check
from schemas.envelope import Rejected, load_event
from schemas.strictjson import INT64_MAX, INT64_MIN, exact_loads, fast_loads, needs_exact

AGENCIES = ("police", "city", "civil", "court")
BASE = story.story(seed=5, n_residents=4)[0]  # a civil registration
RAW = orjson.dumps(BASE)


def rejected(raw: bytes) -> RejectedRecord:
    out = check(InboundRecord("agency.civil", 0, 0, None, raw), AGENCIES)
    assert isinstance(out, RejectedRecord), raw[:200]
    return out


def test_a_valid_event_passes_without_the_exact_reading() -> None:
    assert not needs_exact(RAW, orjson.loads(RAW))
    out = check(InboundRecord("agency.civil", 0, 0, None, RAW), AGENCIES)
    assert not isinstance(out, RejectedRecord)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (RAW.replace(b'"id":', b'"id":"other","id":', 1), "id"),
        (RAW.replace(b'"agency":', b'"agency":"police","agency":', 1), "agency"),
        (RAW.replace(b'"data":{', b'"data":{"resident_id":"X",', 1), "data.resident_id"),
        (
            RAW.replace(b'"person":{', b'"person":{"name":"\xe5\xbc\xa0\xe4\xb8\x89",', 1),
            "data.person.name",
        ),
        (RAW[:-1] + b',"data":{}}', "data"),  # the second data empties the first
    ],
)
def test_a_duplicate_key_is_rejected_with_its_path(raw: bytes, field: str) -> None:
    assert orjson.loads(raw)  # orjson reads it without a word
    out = rejected(raw)
    assert (out.reason, out.field) == ("duplicate-key", field)
    assert "more than once" in out.detail


def test_a_duplicate_hidden_behind_an_escaped_colon_is_found() -> None:
    raw = RAW.replace(b'"data":{', b'"data":{"a":"\\u003a","a":1,', 1)
    assert rejected(raw).reason == "duplicate-key"
    ok = RAW.replace(b'"data":{', b'"data":{"a\\u003a":"\\u003A:",', 1)
    assert load_event(ok) == orjson.loads(ok)


@pytest.mark.parametrize(
    "number",
    [
        str(INT64_MAX + 1),
        str(2**64 - 1),
        str(2**64),  # orjson reads this one as a float: its digits are lost
        str(10**30),
        str(INT64_MIN - 1),  # and this one
        "1e400",
        "-1e400",
        "1" * 400,
    ],
)
def test_a_number_out_of_range_is_rejected(number: str) -> None:
    raw = RAW.replace(b'"data":{', b'"data":{"n":' + number.encode() + b",", 1)
    out = rejected(raw)
    assert out.reason == "number-out-of-range", (number, out)


@pytest.mark.parametrize("number", [INT64_MAX, INT64_MIN, 0, -1, 2**53 + 1])
def test_int64_itself_is_read_exactly(number: int) -> None:
    raw = orjson.dumps({"n": number, "s": "1234567890123456789012"})  # a digit run: exact path
    assert needs_exact(raw, orjson.loads(raw))
    assert load_event(raw) == {"n": number, "s": "1234567890123456789012"}


def test_numbers_within_float_range_are_kept() -> None:
    for text in ("1e308", "-1e308", "1e-400", "123456.789e-3"):
        assert load_event(b'{"x":' + text.encode() + b"}")["x"] == float(text)


def test_a_duplicate_in_a_deep_dropped_value_cannot_overflow_the_exact_reading() -> None:
    deep = b"[" * 1000 + b"]" * 1000
    raw = b'{"a":' + deep + b',"a":1}'
    with pytest.raises(Rejected) as exc:
        load_event(raw)
    assert exc.value.reason in ("too-deep", "duplicate-key")


# -- properties: the count agrees with an exact reader on any text ------------------------

KEYS = st.text(alphabet=st.sampled_from('ab:"\\\u00e9\u5f20 \n/'), max_size=4)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | KEYS
)
# An object is a list of members: keys may repeat, as they may in text.
DOCS = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.lists(st.tuples(KEYS, inner), max_size=4),
    max_leaves=20,
)


def write(node: Any, escape: bool) -> bytes:
    """JSON text for ``node`` (objects as member lists, kept as written); with ``escape``,
    every colon inside a string is written ``\\u003a`` and non-ASCII as ``\\uXXXX``."""
    if isinstance(node, list) and node and isinstance(node[0], tuple):
        return b"{" + b",".join(write(k, escape) + b":" + write(v, escape) for k, v in node) + b"}"
    if isinstance(node, list):
        return b"[" + b",".join(write(v, escape) for v in node) + b"]"
    if isinstance(node, str) and escape:
        return json.dumps(node, ensure_ascii=True).replace(":", "\\u003a").encode()
    return orjson.dumps(node)


def has_duplicate(node: Any) -> bool:
    if isinstance(node, list) and node and isinstance(node[0], tuple):
        keys = [k for k, _ in node]
        return len(set(keys)) < len(keys) or any(has_duplicate(v) for _, v in node)
    if isinstance(node, list):
        return any(has_duplicate(v) for v in node)
    return False


@settings(max_examples=400, deadline=None)
@given(DOCS, st.booleans())
def test_a_duplicate_is_rejected_exactly_when_the_text_holds_one(node: Any, escape: bool) -> None:
    raw = write(node, escape)
    if has_duplicate(node):
        with pytest.raises(Rejected) as exc:
            load_event(raw)
        assert exc.value.reason == "duplicate-key"
    else:
        doc = load_event(raw)
        expected = orjson.loads(raw)
        assert doc == expected or (isinstance(doc, float) and math.isnan(doc))


@settings(max_examples=200, deadline=None)
@given(DOCS)
def test_the_cheap_check_never_clears_a_text_with_a_duplicate(node: Any) -> None:
    raw = write(node, False)
    if has_duplicate(node):
        assert needs_exact(raw, fast_loads(raw))


@settings(max_examples=200, deadline=None)
@given(st.integers(), st.booleans())
def test_any_integer_is_kept_exactly_or_rejected(n: int, negative: bool) -> None:
    raw = b'{"n":' + str(-abs(n) if negative else n).encode() + b"}"
    if INT64_MIN <= int(raw[5:-1]) <= INT64_MAX:
        assert load_event(raw) == exact_loads(raw)
    else:
        with pytest.raises(Rejected) as exc:
            load_event(raw)
        assert exc.value.reason == "number-out-of-range"
