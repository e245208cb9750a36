"""A second town, generated apart from the hub's own simulator, to judge resolution on data
the hub was not shaped around: its own people (compound surnames, minority names written
with a middle dot), its own flows and its own noise model, written from the event catalog
(../shared/CONTRACT.md section 3).

Noise, per person mention at the chosen rate, one or two of: identity number dropped, one
digit mistyped, two neighbouring digits swapped; phone dropped or two digits swapped; a
character replaced by one that sounds the same or looks alike; a full-width space put in
the name, a middle dot dropped or written as a full stop; the birth date dropped; the
address written as building-unit-room only, with full-width digits, or 栋 for 号楼.
Agencies publish late: an event may be sent up to two days after it happened.

    .venv/bin/python -m bench.town --people 150 --noise 0.1 --out DIR
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from schemas.national_id import checksum_char

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FAMILY = [
    "李",
    "王",
    "张",
    "刘",
    "陈",
    "周",
    "黄",
    "吴",
    "徐",
    "孙",
    "胡",
    "朱",
    "高",
    "林",
    "何",
    "欧阳",
    "司马",
    "诸葛",
    "上官",
    "段",
    "雷",
    "黎",
    "邹",
    "章",
    "程",
]
GIVEN = [
    "娜",
    "静",
    "敏",
    "秀英",
    "桂兰",
    "兰萍",
    "志强",
    "建华",
    "晓东",
    "海燕",
    "春梅",
    "子轩",
    "雨涵",
    "浩然",
    "思远",
    "国庆",
    "淑珍",
    "玉梅",
    "家豪",
    "俊杰",
]
MINORITY = [
    "买买提·吐尔逊",
    "阿依古丽·买买提",
    "热依拉·艾力",
    "艾尔肯·阿不都",
    "古丽娜尔·托合提",
    "达瓦·次仁",
    "扎西·顿珠",
]
# Characters confused when names are typed or heard: same sound, or a similar shape.
SOUNDS = {
    "李": "黎",
    "黎": "李",
    "章": "张",
    "张": "章",
    "程": "陈",
    "陈": "程",
    "邹": "周",
    "周": "邹",
    "娜": "纳",
    "静": "靜",
    "敏": "闵",
    "萍": "苹",
    "强": "蔷",
    "华": "桦",
    "东": "冬",
    "燕": "雁",
    "梅": "玫",
    "轩": "萱",
    "涵": "含",
    "远": "源",
    "庆": "青",
}
LOOKS = {"己": "已", "王": "玉", "未": "末", "土": "士", "晓": "哓", "思": "恩"}
ROADS = ["光华路", "建国门外大街", "东三环中路", "朝阳路", "团结湖路"]
FULL = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass
class Someone:
    key: str
    name: str
    nid: str
    birth: str
    gender: str
    phone: str | None
    home: tuple[str, int, int, int, int]  # road, number, building, unit, room


@dataclass
class Town:
    rng: random.Random
    noise: float
    people: list[Someone] = field(default_factory=list)
    out: list[tuple[datetime, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    n: int = 0

    def person(self, i: int) -> Someone:
        r = self.rng
        birth = datetime(1940, 1, 1) + timedelta(days=r.randrange(0, 365 * 62))
        female = r.random() < 0.5
        name = r.choice(MINORITY) if r.random() < 0.08 else r.choice(FAMILY) + r.choice(GIVEN)
        body = f"{r.choice(['110105', '110101', '650102', '540102'])}{birth:%Y%m%d}"
        body += f"{r.randrange(0, 100):02d}{r.choice('02468' if female else '13579')}"
        home = (
            r.choice(ROADS),
            r.randrange(1, 60),
            r.randrange(1, 9),
            r.randrange(1, 4),
            r.randrange(1, 19) * 100 + r.randrange(1, 5),
        )
        phone = None if r.random() < 0.1 else f"1{r.choice('3589')}{r.randrange(10**9):09d}"
        return Someone(
            f"TT-{i:05d}",
            name,
            body + checksum_char(body),
            f"{birth:%Y-%m-%d}",
            "F" if female else "M",
            phone,
            home,
        )

    # -- how agencies write a person and a place ------------------------------------------
    def mention(self, p: Someone, full: bool) -> dict[str, Any]:
        r = self.rng
        m: dict[str, Any] = {"name": p.name}
        if full or r.random() < 0.6:
            m["national_id"] = p.nid
        if full or r.random() < 0.5:
            m["birth_date"], m["gender"] = p.birth, p.gender
        if p.phone and (full or r.random() < 0.8):
            m["phone"] = p.phone
        if r.random() < self.noise:
            for kind in r.sample(["nid", "phone", "name", "birth"], r.choice((1, 1, 2))):
                self.spoil(m, kind)
        return m

    def spoil(self, m: dict[str, Any], kind: str) -> None:
        r = self.rng
        if kind == "nid" and "national_id" in m:
            v = list(m["national_id"])
            how = r.choice(("drop", "digit", "swap"))
            if how == "drop":
                del m["national_id"]
                return
            i = r.randrange(6, 16)
            if how == "digit":
                v[i] = str((int(v[i]) + r.randrange(1, 10)) % 10)
            else:
                v[i], v[i + 1] = v[i + 1], v[i]
            m["national_id"] = "".join(v)
        elif kind == "phone" and "phone" in m:
            if r.random() < 0.5:
                del m["phone"]
            else:
                v = list(m["phone"])
                i = r.randrange(3, 10)
                v[i], v[i + 1] = v[i + 1], v[i]
                m["phone"] = "".join(v)
        elif kind == "name":
            name = m["name"]
            how = r.choice(("sound", "look", "space", "dot"))
            if how in ("sound", "look"):
                table = SOUNDS if how == "sound" else LOOKS
                idx = [i for i, c in enumerate(name) if c in table]
                if idx:
                    i = r.choice(idx)
                    name = name[:i] + table[name[i]] + name[i + 1 :]
            elif how == "space" and len(name) >= 2:
                cut = 2 if name[:2] in FAMILY else 1
                name = name[:cut] + "\u3000" + name[cut:]
            elif "·" in name:
                name = name.replace("·", r.choice(("", ".", "•")))
            m["name"] = name
        elif kind == "birth":
            m.pop("birth_date", None)

    def address(self, p: Someone) -> tuple[dict[str, Any], bool]:
        """The address text, and whether it names the place fully (for the place truth)."""
        road, number, b, u, room = p.home
        r = self.rng
        if r.random() < self.noise:
            how = r.choice(("short", "full-width", "dong"))
            if how == "short":
                return {"text": f"{b}号楼{u}单元{room}"}, False
            if how == "full-width":
                return {
                    "text": f"朝阳区{road}{number}号{b}号楼{u}单元{room}室".translate(FULL)
                }, True
            return {"text": f"北京市朝阳区{road}{number}号{b}栋{u}单元{room}"}, True
        return {"text": f"北京市朝阳区{road}{number}号{b}号楼{u}单元{room}室"}, True

    # -- events -------------------------------------------------------------------------
    def emit(
        self,
        agency: str,
        etype: str,
        when: datetime,
        subject: str,
        data: dict[str, Any],
        truth: dict[str, Any],
    ) -> None:
        self.n += 1
        event = {
            "specversion": "1.0",
            "id": f"tw-{agency}-{self.n:06d}",
            "source": f"/agency/{agency}/town",
            "type": etype,
            "time": when.isoformat(),
            "subject": subject,
            "agency": agency,
            "data": data,
        }
        late = timedelta(hours=self.rng.uniform(0, 48)) if self.rng.random() < 0.3 else None
        self.out.append((when + late if late else when, event, truth))

    def run(self, n_people: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        r = self.rng
        self.people = [self.person(i) for i in range(n_people)]
        place_of = {p.key: "TPL-" + "-".join(map(str, p.home)) for p in self.people}
        for p in self.people:
            if r.random() < 0.8:
                addr, named = self.address(p)
                self.emit(
                    "civil",
                    "civil.resident.registered",
                    T0 + timedelta(hours=r.random()),
                    f"TR-{p.key}",
                    {
                        "resident_id": f"TR-{p.key}",
                        "household_id": "TH",
                        "person": self.mention(p, True),
                        "address": addr,
                    },
                    {
                        "persons": {"person": p.key},
                        "places": {"address": place_of[p.key]} if named else {},
                    },
                )
        for k in range(n_people):
            a, b = r.sample(self.people, 2)
            when = T0 + timedelta(days=r.uniform(1, 60))
            matter = f"TM-{k}"
            case = f"TC-{k:05d}"
            addr, named = self.address(a)
            places = {"address": place_of[a.key]} if named else {}
            self.emit(
                "city",
                "city.case.reported",
                when,
                case,
                {
                    "case_id": case,
                    "category": "neighbour-dispute",
                    "description": "纠纷",
                    "channel": "grid-member",
                    "address": addr,
                    "persons": [
                        {"role": "party", "person": self.mention(a, False)},
                        {"role": "party", "person": self.mention(b, False)},
                    ],
                },
                {
                    "persons": {"persons[0].person": a.key, "persons[1].person": b.key},
                    "places": places,
                    "matter": matter,
                },
            )
            if r.random() < 0.5:
                inc = f"TI-{k:05d}"
                self.emit(
                    "police",
                    "police.incident.reported",
                    when + timedelta(hours=3),
                    inc,
                    {
                        "incident_id": inc,
                        "category": "dispute",
                        "summary": "纠纷",
                        "address": addr,
                        "caller": self.mention(b, False),
                    },
                    {"persons": {"caller": b.key}, "places": places, "matter": matter},
                )
                pc = f"TP-{k:05d}"
                self.emit(
                    "police",
                    "police.case.opened",
                    when + timedelta(hours=5),
                    pc,
                    {
                        "case_id": pc,
                        "offence": "寻衅滋事",
                        "incident_id": inc,
                        "refs": [{"agency": "city", "kind": "case", "id": case}],
                    },
                    {"matter": matter},
                )
                self.emit(
                    "police",
                    "police.person.involved",
                    when + timedelta(hours=6),
                    pc,
                    {"case_id": pc, "role": "suspect", "person": self.mention(a, False)},
                    {"persons": {"person": a.key}, "matter": matter},
                )
            if r.random() < 0.25:
                cc = f"TF-{k:05d}"
                self.emit(
                    "court",
                    "court.case.filed",
                    when + timedelta(days=9),
                    cc,
                    {
                        "case_id": cc,
                        "case_type": "civil",
                        "cause": "相邻关系纠纷",
                        "parties": [
                            {"role": "plaintiff", "person": self.mention(b, True)},
                            {"role": "defendant", "person": self.mention(a, True)},
                        ],
                        "refs": [{"agency": "city", "kind": "case", "id": case}],
                    },
                    {
                        "persons": {"parties[0].person": b.key, "parties[1].person": a.key},
                        "matter": matter,
                    },
                )
        self.out.sort(key=lambda x: x[0])  # in the order agencies published them
        return [(e, t) for _, e, t in self.out]


def generate(
    people: int = 150, noise: float = 0.1, seed: int = 1
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(event, truth) pairs in publish order."""
    return Town(random.Random(seed), noise).run(people)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=150)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    pairs = generate(a.people, a.noise, a.seed)
    with (a.out / "events.jsonl").open("wb") as ev, (a.out / "truth.jsonl").open("wb") as tr:
        for e, t in pairs:
            ev.write(orjson.dumps(e) + b"\n")
            tr.write(orjson.dumps(t) + b"\n")
    print(f"{len(pairs)} events → {a.out}")
