"""Names and identity numbers of simulated people, shared by the simulated city and the
scripted story: one place that knows how agencies' names look and how GB 11643 numbers
are made."""

from __future__ import annotations

import random
from datetime import datetime

from schemas.national_id import checksum_char

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国文辉玉兰秀萍鹏飞宇浩然子涵"
    "欣怡梓轩雨桐博文佳琪晨阳思远嘉怡一鸣海燕红梅志强春生秋菊冬梅永刚德明"
)
# The twenty most common surnames and given names, for the small scripted story.
COMMON_SURNAMES = SURNAMES[:20]
COMMON_GIVEN = (
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
)
# Names written with a middle dot (Uyghur, Tibetan and other names in Chinese script): a
# given name and a father's or second name, each of several characters.
DOTTED = (
    "买买提",
    "吐尔逊",
    "阿依古丽",
    "艾买提",
    "古丽娜尔",
    "吾买尔",
    "艾力",
    "热依拉",
    "阿不都",
    "帕提古丽",
    "扎西",
    "次仁",
    "卓玛",
    "多吉",
    "阿迪力",
)
# Characters agencies confuse when typing a name (same sound or shape).
TYPOS = {
    "伟": "玮",
    "芳": "方",
    "娜": "纳",
    "静": "晶",
    "丽": "莉",
    "强": "蔷",
    "磊": "垒",
    "军": "君",
    "洋": "阳",
    "勇": "永",
    "杰": "洁",
    "娟": "鹃",
    "涛": "滔",
    "明": "铭",
    "超": "潮",
    "霞": "侠",
    "平": "萍",
    "刚": "钢",
    "华": "桦",
    "建": "健",
    "文": "雯",
    "辉": "晖",
    "玉": "钰",
    "秀": "琇",
    "鹏": "朋",
    "飞": "菲",
    "宇": "雨",
    "浩": "皓",
    "王": "汪",
    "张": "章",
    "刘": "柳",
    "陈": "程",
    "杨": "阳",
    "黄": "王",
    "徐": "许",
    "周": "邹",
    "吴": "伍",
    "林": "琳",
    "李": "黎",
    "赵": "肇",
    "孙": "荪",
    "胡": "湖",
}


def national_id(rng: random.Random, region: str, birth: datetime, female: bool) -> str:
    """A valid GB 11643 number: region, birth date, a sequence whose last digit is even for
    women and odd for men, and the checksum character."""
    seq = rng.randrange(0, 100) * 10 + (
        rng.choice((0, 2, 4, 6, 8)) if female else rng.choice((1, 3, 5, 7, 9))
    )
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + checksum_char(first17)


# How a mention goes wrong (one kind per noisy mention): a character of the same sound or
# shape, the name written another way (a full-width space, the middle dot dropped or
# written as a full stop), the identity number missing, mistyped or with two neighbouring
# digits swapped, the phone swapped the same way, missing, or another of the person's.
NOISE = (
    "typo",
    "written",
    "id-missing",
    "id-mistyped",
    "id-swapped",
    "phone",
    "phone-swapped",
    "phone-missing",
)


def written(rng: random.Random, name: str) -> str:
    """The name as another clerk writes it."""
    if "·" in name:
        return name.replace("·", rng.choice(("", ".", "•", "・")))
    if len(name) >= 2:
        return name[0] + "\u3000" + name[1:]
    return name


def swapped(rng: random.Random, digits: str, lo: int, hi: int) -> str:
    """Two neighbouring characters between ``lo`` and ``hi`` swapped (a typing slip)."""
    hi = min(hi, len(digits) - 2)
    if hi < lo:
        return digits
    i = rng.randrange(lo, hi + 1)
    return digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
