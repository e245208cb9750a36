"""Names as agencies write them: normalized spelling and how the name sounds."""

from __future__ import annotations

import pytest

from hub.sim.people import TYPOS
from projections.names import normalize_name, sound_key


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("张三丰", "章三峰"),  # same sound, other characters
        ("陈伟", "程玮"),  # -n/-ng merged
        ("周娜", "邹纳"),  # zh/z merged
        ("阿依·买买提", "阿依买买提"),  # the middle dot of minority names
        ("李 莉", "黎丽"),  # a space typed inside
        ("ＺＨＡＮＧ Wei", "zhangwei"),  # full-width Latin letters
    ],
)
def test_variants_agencies_write_sound_the_same(a: str, b: str) -> None:
    assert sound_key(a) == sound_key(b)


@pytest.mark.parametrize(("a", "b"), [("张三", "李四"), ("王芳", "王强"), ("刘洋", "刘阳阳")])
def test_different_names_do_not(a: str, b: str) -> None:
    assert sound_key(a) != sound_key(b)


def test_most_of_the_simulators_typos_are_caught_by_sound() -> None:
    # The simulator confuses characters of the same sound or the same shape; sound catches
    # the first kind (黄/王 is shape-and-dialect, not sound: not expected).
    same = [k for k, v in TYPOS.items() if sound_key(k) == sound_key(v)]
    assert len(same) >= len(TYPOS) - 2, sorted(set(TYPOS) - set(same))


def test_empty_and_punctuation_only_names_have_no_key() -> None:
    assert sound_key(None) is None and sound_key("") is None and sound_key(" · ") is None
    assert normalize_name(" 张　三 ") == "张三"
