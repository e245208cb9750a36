"""GB 11643 identity numbers."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from hub.sim.people import national_id as make_national_id
from schemas import national_id


def test_the_standard_example_number_is_valid() -> None:
    assert national_id.is_valid("11010519491231002X")


@pytest.mark.parametrize(
    "bad",
    ["110105194912310021", "11010519491331002X", "1101051949123100", "ABCDEFGHIJKLMNOPQR", ""],
)
def test_wrong_checksum_date_or_shape_is_invalid(bad: str) -> None:
    assert not national_id.is_valid(bad)


def test_lower_case_x_and_spaces_are_normalized() -> None:
    assert national_id.is_valid(" 11010519491231002x ")


def test_birth_date_and_gender_come_from_the_number() -> None:
    assert national_id.birth_date("11010519491231002X") == "1949-12-31"
    assert national_id.gender("11010519491231002X") == "F"  # 17th digit 2: even


def test_generated_numbers_are_valid() -> None:
    rng = random.Random(1)
    for i in range(200):
        nid = make_national_id(
            rng,
            "110105",
            datetime(1950 + i % 60, 1 + i % 12, 1 + i % 28, tzinfo=UTC),
            female=bool(i % 2),
        )
        assert national_id.is_valid(nid), nid
        assert national_id.gender(nid) == ("F" if i % 2 else "M")
