"""GB 11643-1999 resident identity numbers: 17 digits and a checksum (0-9 or X)."""

from __future__ import annotations

import re
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")


def checksum_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def normalize(value: str) -> str:
    """Strip spaces and upper-case a trailing x, as agencies often write it."""
    return value.strip().replace(" ", "").upper()


def is_valid(value: str) -> bool:
    """True when the number has the right shape, a real birth date and a matching checksum."""
    v = normalize(value)
    if not _SHAPE.match(v):
        return False
    try:
        date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return False
    return checksum_char(v[:17]) == v[17]


def birth_date(value: str) -> str | None:
    v = normalize(value)
    if not is_valid(v):
        return None
    return f"{v[6:10]}-{v[10:12]}-{v[12:14]}"


def gender(value: str) -> str | None:
    v = normalize(value)
    if not is_valid(v):
        return None
    return "M" if int(v[16]) % 2 else "F"
