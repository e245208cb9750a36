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


def normalize_name(name: str) -> str:
    return _DROP.sub("", unicodedata.normalize("NFKC", name)).lower()


def _fuzzy(syllable: str) -> str:
    for a, b in _INITIALS:
        if syllable.startswith(a):
            syllable = b + syllable[len(a):]
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
