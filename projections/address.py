"""Chinese addresses as agencies write them → a standard address (标准地址).

Handles what real records do to one address: with or without the city, district, street
office and community; numbers in full-width or Chinese numerals (六号, 一七四号, 十二层);
号楼 / 栋 / 幢 / 座 for a building; "3-2-1201" for building-unit-room; 室 or no 室; a floor
written or left out; spaces anywhere.

The key of a place is district + road + number + building + unit + room, as far as known.
The district comes from the grid code when the record has one (its first six digits are the
district's code), else from the text. A room belongs to its unit, a unit to its building,
a building to its grid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CN = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_FULL = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_FULL[0x3000] = 0x20  # ideographic space
_NUM = r"[0-9〇零一二两三四五六七八九十百]+"

_CITY = re.compile(r"^(北京市|上海市|天津市|重庆市|[^\s省市]{2,6}省)?([^\s市]{2,6}市)?")
_DISTRICT = re.compile(r"^([^\s区县]{1,6}?(区|县))")
_STREET = re.compile(r"^([^\s]{1,8}?(街道|镇|乡))")
_COMMUNITY = re.compile(r"^([^\s]{1,8}?(社区|村))")
_ROAD = re.compile(rf"^(.{{1,14}}?(大街|街|路|道|胡同|巷|里|弄))({_NUM})(号)?(院)?")
_HYPHEN = re.compile(rf"^({_NUM})-({_NUM})-({_NUM})")
_BUILDING = re.compile(rf"^({_NUM})(号楼|栋|幢|座|号院楼)")
_UNIT = re.compile(rf"^({_NUM})单元")
_FLOOR = re.compile(rf"^({_NUM})(?:层|楼(?!\d))")
_ROOM = re.compile(rf"^({_NUM})(室|号|户)?$")


def cn_number(s: str) -> int | None:
    """'174', '一七四', '十二', '一百零五', '六' → int."""
    if s.isdigit():
        return int(s)
    if all(c in _CN for c in s):  # digit by digit, as often written for house numbers
        return int("".join(str(_CN[c]) for c in s))
    total, current = 0, 0
    for c in s:
        if c in _CN:
            current = _CN[c]
        elif c == "十":
            total += (current or 1) * 10
            current = 0
        elif c == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


@dataclass(frozen=True)
class StandardAddress:
    district: str | None = None
    street: str | None = None
    community: str | None = None
    road: str | None = None
    number: int | None = None
    building: int | None = None
    unit: int | None = None
    floor: int | None = None
    room: int | None = None
    rest: str | None = None  # what could not be read, kept as written
    grid: str | None = None  # only with no road: the grid the building stands in

    def key(self) -> str:
        """Identity of the place at the finest level known."""
        parts = [
            self.district or "?",
            self.road or "?",
            _s(self.number),
            _s(self.building),
            _s(self.unit),
            _s(self.room),
        ]
        if self.road is None:
            parts.append(self.rest or "")
            if self.grid:
                parts.append(self.grid)
        return "|".join(parts)

    def building_key(self) -> str | None:
        if self.road is None or self.building is None:
            return None
        return "|".join([self.district or "?", self.road, _s(self.number), _s(self.building)])

    def unit_key(self) -> str | None:
        b = self.building_key()
        return f"{b}|{self.unit}" if b and self.unit is not None else None

    def parts(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _s(v: int | None) -> str:
    return "" if v is None else str(v)


def parse(text: str, grid: str | None = None) -> StandardAddress:
    """The standard address of ``text``. Written in parts separated by commas, the parts
    may come smallest first ("1号楼1单元301室，古翠路80号院，西湖区翠苑街道"): the reading
    with a road and the least left unread, of the parts as written and reversed, wins."""
    t = text.translate(_FULL)
    parts = [p for p in re.split(r"[,、;]", t) if p.strip()]
    if len(parts) > 1:
        readings = [_parse("".join(parts), grid), _parse("".join(reversed(parts)), grid)]
        return min(readings, key=lambda a: (a.road is None, len(a.rest or "")))
    return _parse(t, grid)


def _parse(t: str, grid: str | None) -> StandardAddress:
    t = re.sub(r"\s+", "", t)
    fields: dict[str, object] = {}
    t = _CITY.sub("", t, count=1)
    m = _DISTRICT.match(t)
    if m:
        fields["district"] = m.group(1)
        t = t[m.end() :]
    if grid and len(grid) >= 6 and grid[:6].isdigit():
        fields["district"] = grid[:6]  # the code is exact where names vary
    for name, rx in (("street", _STREET), ("community", _COMMUNITY)):
        m = rx.match(t)
        if m:
            fields[name] = m.group(1)
            t = t[m.end() :]
    m = _ROAD.match(t)
    if not m:
        # building, unit and room with no road (a grid member's "2号楼1单元601室"): a room
        # of its grid, not of the city at large
        rest = _rooms(t, fields)
        if fields.get("building") is not None and grid:
            return StandardAddress(**fields, grid=grid, rest=rest or None)  # type: ignore[arg-type]
        fields = {k: v for k, v in fields.items() if k in ("district", "street", "community")}
        return StandardAddress(**fields, rest=t or None)  # type: ignore[arg-type]
    fields["road"] = m.group(1)
    fields["number"] = cn_number(m.group(3))
    t = _rooms(t[m.end() :], fields)
    return StandardAddress(**fields, rest=t or None)  # type: ignore[arg-type]


def _rooms(t: str, fields: dict[str, object]) -> str:
    """Building, unit, floor and room at the head of ``t`` into ``fields``; the rest."""
    m = _HYPHEN.match(t)
    if m:
        fields["building"] = cn_number(m.group(1))
        fields["unit"] = cn_number(m.group(2))
        fields["room"] = cn_number(m.group(3))
        t = t[m.end() :]
    else:
        for name, rx in (("building", _BUILDING), ("unit", _UNIT), ("floor", _FLOOR)):
            m = rx.match(t)
            if m:
                fields[name] = cn_number(m.group(1))
                t = t[m.end() :]
        m = _ROOM.match(t)
        if m:
            fields["room"] = cn_number(m.group(1))
            t = ""
    if fields.get("room") is not None and fields.get("floor") is None:
        room = int(fields["room"])  # type: ignore[call-overload]
        if room >= 100:
            fields["floor"] = room // 100
    return t
