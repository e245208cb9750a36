"""Names as agencies write them: the same person's name typed by a grid member, a 110
operator and a court clerk. Two keys: the name normalized (full-width forms, spaces and
the middle dots of minority names dropped), and how it sounds, for names written with a
character of the same or a commonly confused sound (张/章, 陈/程, 周/邹, 李/黎).

How it sounds is toneless pinyin from pypinyin (a maintained dictionary of readings; a
hand-written table would cover a few hundred characters and none of the rare ones) with the
usual "fuzzy pinyin" merges of speakers who do not tell them apart: zh/z, ch/c, sh/s, n/l
and the -n/-ng finals.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

_DROP = re.compile(r"[\s·•・‧.\-_]+")
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
_FINALS = (("ang", "an"), ("eng", "en"), ("ing", "in"))


@lru_cache(maxsize=65536)
def normalize_name(name: str) -> str:
    return _DROP.sub("", unicodedata.normalize("NFKC", name)).lower()


def _fuzzy(syllable: str) -> str:
    for a, b in _INITIALS:
        if syllable.startswith(a):
            syllable = b + syllable[len(a) :]
            break
    for a, b in _FINALS:
        if syllable.endswith(a):
            syllable = syllable[: -len(a)] + b
            break
    return syllable


@lru_cache(maxsize=65536)
def sound_key(name: str | None) -> str | None:
    """The name as it sounds, e.g. 张三丰 and 章三峰 → ``zan san fen``; None for no name."""
    if not name:
        return None
    norm = normalize_name(name)
    if not norm:
        return None
    return " ".join(_fuzzy(s) for s in lazy_pinyin(norm, style=Style.NORMAL, errors="default"))


# How often a surname is borne (shares of the population, rounded, from the published
# counts of China's household register); other surnames share what is left.
_SURNAME_SHARE = {
    "王": 0.072,
    "李": 0.072,
    "张": 0.068,
    "刘": 0.054,
    "陈": 0.045,
    "杨": 0.031,
    "黄": 0.022,
    "赵": 0.022,
    "吴": 0.02,
    "周": 0.019,
    "徐": 0.016,
    "孙": 0.015,
    "马": 0.015,
    "朱": 0.013,
    "胡": 0.012,
    "郭": 0.012,
    "何": 0.011,
    "高": 0.011,
    "林": 0.011,
    "罗": 0.011,
}
_OTHER_SURNAME = 0.004
# A given name of one character is shared by about one person in 300 of a surname; of two
# characters by fewer, though same-name people (重名) are common enough that a name alone,
# however rare, is never taken as a person.
_GIVEN_ONE, _GIVEN_MORE = 1 / 300, 1 / 3_000


def name_frequency(name: str) -> float:
    """How likely two different people share this name exactly (the u of an exact match)."""
    n = normalize_name(name)
    if len(n) < 2 or not all("\u4e00" <= c <= "\u9fff" for c in n):
        return 1 / 50_000  # a transliterated or minority name: rare
    surname_share = _SURNAME_SHARE.get(n[0], _OTHER_SURNAME)
    return surname_share * (_GIVEN_ONE if len(n) == 2 else _GIVEN_MORE)
