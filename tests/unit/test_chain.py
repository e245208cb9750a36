"""The chain walk in memory: an intact chain passes; one row altered, deleted, inserted or
moved is named first, with what happened; numbers hash as jsonb gives them back."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from projections.chain import GENESIS, Link, first_break, link, normalized


def _chain(n: int) -> list[Link]:
    out, prev = [], GENESIS
    for seq in range(1, n + 1):
        values = [seq, datetime(2026, 1, 1, tzinfo=UTC), f"user-{seq}", {"n": seq * 1.5}]
        h = link(prev, seq, values)
        out.append(Link(f"id {seq * 10}", seq, prev, h, values))
        prev = h
    return out


def test_intact_chain_passes_with_its_head() -> None:
    rows = _chain(5)
    assert first_break("audit", rows, (5, rows[-1].hash or b"")) is None


def test_altered_row_is_named() -> None:
    rows = _chain(5)
    rows[2] = dataclasses.replace(rows[2], values=[*rows[2].values[:2], "mallory", {"n": 4.5}])
    b = first_break("audit", rows)
    assert b is not None and (b.kind, b.row) == ("altered", "id 30")


def test_deleted_row_is_named_at_the_row_after() -> None:
    rows = _chain(5)
    del rows[1]
    b = first_break("audit", rows)
    assert b is not None and (b.kind, b.row) == ("deleted", "id 30")


def test_cut_end_is_found_by_the_head() -> None:
    rows = _chain(5)
    head = (5, rows[-1].hash or b"")
    b = first_break("audit", rows[:4], head)
    assert b is not None and b.kind == "deleted" and b.row == "the end of the chain"


def test_inserted_row_is_named() -> None:
    rows = _chain(5)
    forged = dataclasses.replace(rows[2], label="id 31", values=[3, rows[2].values[1], "x", {}])
    b = first_break("audit", [*rows[:3], forged, *rows[3:]])
    assert b is not None and (b.kind, b.row) == ("inserted", "id 31")
    outside = Link("id 99", None, None, None, [])
    b = first_break("audit", [*rows, outside])
    assert b is not None and (b.kind, b.row) == ("inserted", "id 99")


def test_swapped_rows_are_named_as_reordered() -> None:
    rows = _chain(5)
    a, c = rows[1], rows[2]
    rows[1] = dataclasses.replace(c, label=a.label)
    rows[2] = dataclasses.replace(a, label=c.label)
    b = first_break("audit", rows)
    assert b is not None and (b.kind, b.row) == ("reordered", "id 20")


@pytest.mark.parametrize("value", [1e16, 2.0, 1e25, -3.5, 10**18, 1.2345678901234567e25, 0.1])
def test_numbers_hash_as_jsonb_returns_them(value: float) -> None:
    """jsonb prints a number in plain decimal (1e16 as 10000000000000000, which reads back
    as an integer): the hash sees the same value either way."""
    plain = f"{Decimal(orjson.dumps(value).decode()):f}"  # jsonb's rendering
    back = orjson.loads(f'{{"x": [{plain}]}}')
    assert orjson.dumps(normalized({"x": [value]})) == orjson.dumps(normalized(back))


def test_deep_data_normalizes_without_recursion() -> None:
    """As deep as orjson (the jsonb codec) writes: 255 levels."""
    deep: object = 1.0
    for _ in range(250):
        deep = [deep]
    out = normalized(deep)
    for _ in range(250):
        assert isinstance(out, list)
        out = out[0]
    assert out == 1 and isinstance(out, int)
