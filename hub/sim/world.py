"""The simulated district's geography: districts, streets, communities and grids whose codes
nest like the real ones (district 6 digits → street +3 → community +3 → grid +2), standard
addresses (road, number, compound, building, unit, floor, room) and the ways agencies write
them, and the people who live there."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

DISTRICTS = [
    ("110105", "朝阳区"),
    ("110108", "海淀区"),
    ("110102", "西城区"),
    ("110106", "丰台区"),
    ("110114", "昌平区"),
    ("110112", "通州区"),
]
STREET_NAMES = (
    "望京",
    "酒仙桥",
    "将台",
    "三里屯",
    "呼家楼",
    "八里庄",
    "双井",
    "劲松",
    "潘家园",
    "麦子店",
    "团结湖",
    "六里屯",
    "左家庄",
    "和平街",
    "安贞",
    "亚运村",
    "小关",
    "大屯",
)
COMMUNITY_NAMES = (
    "花家地",
    "南湖",
    "利泽",
    "宝星",
    "望花路",
    "方舟苑",
    "阜荣",
    "西园",
    "东湖",
    "丽都",
    "芳园",
    "安苑",
    "京旺",
    "融科",
    "金隅",
    "星源",
    "华彩",
    "澳洲",
)
ROAD_NAMES = (
    "阜通东大街",
    "广顺北大街",
    "望京西路",
    "将台路",
    "酒仙桥路",
    "利泽中街",
    "湖光中街",
    "南湖西园路",
    "阜安西路",
    "来广营西路",
    "花家地街",
    "望京东路",
    "北苑路",
    "惠新东街",
)
CN_DIGITS = "〇一二三四五六七八九"


def _cn(n: int) -> str:
    return "".join(CN_DIGITS[int(c)] for c in str(n))


@dataclass
class Place:
    id: str
    district: tuple[str, str]
    street: tuple[str, str]
    community: tuple[str, str]
    grid: str
    road: str
    number: int
    compound: bool
    building: int
    unit: int
    floor: int
    room: int

    def canonical(self) -> str:
        return (
            f"北京市{self.district[1]}{self.street[1]}{self.road}{self.number}号"
            f"{'院' if self.compound else ''}{self.building}号楼{self.unit}单元"
            f"{self.floor}{self.room:02d}室"
        )

    def variants(self) -> list[str]:
        """The same address as different agencies write it."""
        room = f"{self.floor}{self.room:02d}"
        full_width = str.maketrans("0123456789", "０１２３４５６７８９")
        return [
            self.canonical(),
            f"{self.district[1]}{self.road}{self.number}号{self.building}号楼{self.unit}单元{room}",
            f"{self.road}{_cn(self.number)}号{'院' if self.compound else ''}{self.building}栋"
            f"{self.unit}单元{self.floor}层{room}室",
            (
                f"{self.district[1]} {self.road}{self.number}号{self.building}-{self.unit}-{room}"
            ).translate(full_width),
            # a grid member's shorthand: building, unit and room only (the grid says where)
            f"{self.building}号楼{self.unit}单元{room}室",
        ]


@dataclass
class Person:
    id: str
    national_id: str
    name: str
    gender: str
    birth: str
    phones: list[str]
    resident_id: str | None = None
    household_id: str | None = None
    place: Place | None = None
    alive: bool = True


@dataclass
class City:
    grids: list[str] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)
    places_by_grid: dict[str, list[Place]] = field(default_factory=dict)
    residents: list[Person] = field(default_factory=list)
    visitors: list[Person] = field(default_factory=list)


def build_world(
    city: City, rng: random.Random, n_residents: int, person: Callable[[str], Person]
) -> None:
    """Fill ``city`` with grids, their compounds and rooms, and households of residents
    (``person(region)`` makes one person born in that region, numbered by how many the city
    already holds); visitors from elsewhere besides."""
    n_grids = max(2, n_residents // 400)
    d_count = min(len(DISTRICTS), max(1, n_grids // 40 + 1))
    grid_slots: list[tuple[tuple[str, str], tuple[str, str], tuple[str, str], str]] = []
    g = 0
    while g < n_grids:
        for d in DISTRICTS[:d_count]:
            s_i = (g // 12) % 999 + 1
            street = (f"{d[0]}{s_i:03d}", STREET_NAMES[(s_i - 1) % len(STREET_NAMES)] + "街道")
            c_i = (g // 3) % 999 + 1
            community = (
                f"{street[0]}{c_i:03d}",
                COMMUNITY_NAMES[(c_i - 1) % len(COMMUNITY_NAMES)] + "社区",
            )
            grid = f"{community[0]}{g % 3 + 1:02d}"
            if grid not in {s[3] for s in grid_slots}:
                grid_slots.append((d, street, community, grid))
            g += 1
            if g >= n_grids:
                break
    used: set[tuple[str, str, int]] = set()
    for d, street, community, grid in grid_slots:
        city.grids.append(grid)
        road, number = rng.choice(ROAD_NAMES), rng.randrange(1, 200)
        while (d[0], road, number) in used:  # one compound per address in a district
            road, number = rng.choice(ROAD_NAMES), rng.randrange(1, 400)
        used.add((d[0], road, number))
        compound = rng.random() < 0.5
        places = []
        for b in range(1, rng.randrange(3, 9)):
            for u in range(1, rng.randrange(2, 5)):
                for fl in range(1, rng.randrange(4, 19)):
                    for r in range(1, 5):
                        pid = f"TPL-{len(city.places) + 1:07d}"
                        p = Place(
                            pid, d, street, community, grid, road, number, compound, b, u, fl, r
                        )
                        places.append(p)
                        city.places.append(p)
        city.places_by_grid[grid] = places
    hh = 0
    while len(city.residents) < n_residents:
        hh += 1
        place = rng.choice(city.places)
        for _ in range(rng.choice((1, 2, 2, 3, 3, 4))):
            p = person(place.district[0])
            p.resident_id = f"R{place.district[0][2:]}{len(city.residents) + 1:08d}"
            p.household_id = f"H{hh:08d}"
            p.place = place
            city.residents.append(p)
    for _ in range(max(5, n_residents // 10)):
        city.visitors.append(person(rng.choice(("310104", "440106", "130102"))))
