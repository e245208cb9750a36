#!/usr/bin/env python3
"""Independent town generator for black-box testing of Civic Hub person resolution.

python3 gen.py --seed 7 --noise 0.1 --out town10

Writes OUT/events.jsonl (CloudEvents, publication order) and OUT/truth.json:
  mentions: record key "agency|id" (hub record id format: R.., C../reporter, C../<i>,
            J../caller, J../<role>/<event id>, A../<role>/<event id>, K../<i>)
            -> {"person": truth person id, "fields": published person fields, "noise": [...]}
  threads:  "agency|kind|id" -> truth matter id
  places:   address text as published -> truth place id (+ variant kind)
"""

import argparse
import datetime as dt
import json
import os
import random

W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def check_char(s17):
    return "10X98765432"[sum(int(c) * w for c, w in zip(s17, W)) % 11]


def make_id(area, birth, seq, male):
    seq = seq - (seq % 2) + (1 if male else 0)
    seq = max(1, min(seq, 999))
    if (seq % 2 == 1) != male:
        seq += 1
    s = f"{area}{birth.strftime('%Y%m%d')}{seq:03d}"
    return s + check_char(s)


SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏付方白邹孟熊秦邱江尹薛段雷侯龙史陶贺顾毛郝龚邵万钱严武戴孔汤"
)
GIVEN_M = list("伟强磊军洋勇杰涛明超刚平辉鹏华飞斌宇浩凯健俊帆帅旭宁龙林欣博文彬志峰建国庆海东晨阳")
GIVEN_F = list("芳娜敏静丽艳娟霞秀玲桂英红燕萍婷雪琳晶慧颖倩洁佳琴云莉兰凤梅蕾薇莹")
# homophones / look-alikes as agencies really mistype them
HOMO = {
    "李": "黎",
    "张": "章",
    "陈": "程",
    "周": "邹",
    "王": "汪",
    "林": "琳",
    "娜": "纳",
    "伟": "玮",
    "静": "晶",
    "丽": "莉",
    "军": "君",
    "明": "铭",
    "华": "桦",
    "峰": "锋",
    "杰": "洁",
    "斌": "彬",
    "婷": "亭",
    "玲": "铃",
    "刚": "钢",
    "浩": "皓",
    "燕": "艳",
    "红": "虹",
    "芳": "方",
    "强": "墙",
    "磊": "蕾",
    "涛": "滔",
    "敏": "民",
    "洋": "阳",
    "勇": "永",
    "辉": "晖",
    "鹏": "朋",
    "宇": "雨",
    "凯": "恺",
    "健": "建",
    "俊": "骏",
    "帆": "凡",
    "旭": "煦",
    "宁": "凝",
    "博": "波",
    "文": "雯",
    "志": "智",
    "国": "帼",
    "庆": "青",
    "海": "凯",
    "东": "冬",
    "晨": "辰",
    "阳": "扬",
    "雪": "学",
    "琳": "林",
    "慧": "惠",
    "颖": "影",
    "倩": "茜",
    "佳": "嘉",
    "琴": "勤",
    "云": "芸",
    "莉": "丽",
    "兰": "岚",
    "凤": "风",
    "梅": "玫",
    "蕾": "磊",
    "薇": "微",
    "莹": "盈",
    "萍": "平",
    "霞": "侠",
    "秀": "绣",
    "桂": "贵",
    "英": "瑛",
    "娟": "涓",
    "艳": "燕",
    "晶": "静",
    "洁": "杰",
    "超": "潮",
    "平": "萍",
    "飞": "菲",
    "龙": "隆",
    "欣": "馨",
    "彬": "斌",
    "建": "健",
    "子": "紫",
    "涵": "含",
    "轩": "宣",
}
LOOK = {
    "薛": "薜",
    "侯": "候",
    "徐": "涂",
    "戴": "载",
    "郝": "赫",
    "姚": "桃",
    "鹏": "朋",
    "晶": "品",
    "己": "已",
    "士": "土",
    "未": "末",
    "玲": "铃",
    "晴": "睛",
    "杨": "扬",
    "汤": "场",
    "崔": "翟",
    "梁": "粱",
    "谭": "潭",
    "范": "苑",
    "祝": "祀",
}
MIDDLE_DOT_VARIANTS = ["·", "•", ".", "・", "", "．"]
FW = {c: chr(ord(c) + 0xFEE0) for c in "0123456789"}

COMPOUNDS = [  # street, road, number, buildings, compound grid prefix
    ("翠苑街道", "文三路", 259, 4, "330106001001"),
    ("翠苑街道", "古翠路", 80, 3, "330106001002"),
    ("西溪街道", "学院路", 77, 3, "330106002001"),
    ("西溪街道", "万塘路", 18, 2, "330106002002"),
]


def fwdigits(s):
    return "".join(FW.get(c, c) for c in s)


def cn_num(n):
    d = "〇一二三四五六七八九"
    return "".join(d[int(c)] for c in str(n))


class Town:
    def __init__(self, seed, noise, late):
        self.r = random.Random(seed)
        self.noise = noise
        self.late = late
        self.people = {}  # pid -> dict
        self.rooms = []  # room dicts
        self.events = []  # (time, agency, type, subject, data)
        self.mentions = {}
        self.threads = {}
        self.places = {}
        self.used_ids = set()
        self.seq = 0
        self.phones = set()

    # ---------------- world ----------------
    def phone(self):
        while True:
            p = self.r.choice(["13", "15", "18", "17", "19"]) + "".join(
                self.r.choice("0123456789") for _ in range(9)
            )
            if p not in self.phones:
                self.phones.add(p)
                return p

    def nid(self, area, birth, male, seq=None):
        while True:
            s = seq if seq is not None else self.r.randint(1, 998)
            n = make_id(area, birth, s, male)
            if n not in self.used_ids:
                self.used_ids.add(n)
                return n
            seq = None

    def birth(self, age_lo, age_hi):
        y = 2026 - self.r.randint(age_lo, age_hi)
        return dt.date(y, 1, 1) + dt.timedelta(days=self.r.randint(0, 364))

    def given(self, male, n=None):
        pool = GIVEN_M if male else GIVEN_F
        n = n or self.r.choice([1, 2, 2])
        return "".join(self.r.choice(pool) for _ in range(n))

    def add_person(
        self,
        name,
        male,
        birth,
        area="330106",
        room=None,
        resident=True,
        phone=True,
        minority=False,
        nid=None,
        tag="",
    ):
        pid = f"T{len(self.people):04d}"
        age = 2026 - birth.year
        ph = self.phone() if (phone and age >= 16) else None
        p = {
            "pid": pid,
            "name": name,
            "male": male,
            "birth": birth,
            "nid": nid or self.nid(area, birth, male),
            "phone": ph,
            "room": room,
            "resident": resident,
            "minority": minority,
            "tag": tag,
        }
        self.people[pid] = p
        return p

    def build(self):
        r = self.r
        for street, road, no, nb, gp in COMPOUNDS:
            for b in range(1, nb + 1):
                grid = f"{gp}{b:02d}"
                for u in (1, 2):
                    for fl in range(1, 7):
                        for k in (1, 2):
                            self.rooms.append(
                                {
                                    "street": street,
                                    "road": road,
                                    "no": no,
                                    "b": b,
                                    "u": u,
                                    "room": fl * 100 + k,
                                    "grid": grid,
                                    "place": f"{road}{no}-{b}-{u}-{fl * 100 + k}",
                                    "hh": [],
                                }
                            )
        r.shuffle(self.rooms)
        rooms = iter(self.rooms)
        # forced trap households first
        forced = [
            ("王", "伟", True),
            ("王", "伟", True),
            ("王", "伟", True),
            ("张", "伟", True),
            ("张", "伟", True),
            ("李", "娜", False),
            ("李", "娜", False),
            ("刘", "洋", True),
            ("刘", "洋", False),
            ("王", "芳", False),
            ("王", "芳", False),
            ("黎", "娜", False),
            ("张", "敏", False),
            ("章", "敏", False),
            ("陈", "静", False),
            ("程", "静", False),
        ]
        hh_no = 0
        for sur, giv, male in forced:
            room = next(rooms)
            hh_no += 1
            self.household(room, hh_no, head=(sur, giv, male))
        # twins household
        for sur, a, b in [("张", "子涵", "子轩"), ("李", "欣怡", "欣然"), ("王", "浩然", "浩宇")]:
            room = next(rooms)
            hh_no += 1
            self.household(room, hh_no, twins=(sur, a, b))
        # brothers 建国/建军 at one address, father/son sharing one-character-apart names
        room = next(rooms)
        hh_no += 1
        self.household(room, hh_no, head=("王", "建国", True), brother=("王", "建军"))
        room = next(rooms)
        hh_no += 1
        self.household(room, hh_no, head=("刘", "明", True), son_name=("刘", "明轩"))
        # Uyghur family: son's name ends with the father's name
        room = next(rooms)
        hh_no += 1
        self.household(room, hh_no, uyghur=True)
        room = next(rooms)
        hh_no += 1
        self.household(room, hh_no, uyghur2=True)
        for _ in range(70):
            room = next(rooms)
            hh_no += 1
            self.household(room, hh_no)
        # outsiders: no civil record, ids from other provinces
        for _ in range(25):
            male = r.random() < 0.6
            area = r.choice(["410102", "510104", "340104", "130102", "330102"])
            name = r.choice(SURNAMES) + self.given(male)
            if r.random() < 0.15:
                name = r.choice(
                    ["王伟", "张伟", "李娜", "刘洋", "王芳"]
                )  # more common-name collisions
            self.add_person(
                name, male, self.birth(20, 60), area=area, resident=False, tag="outsider"
            )
        self.places = {}

    def household(
        self,
        room,
        hh_no,
        head=None,
        twins=None,
        brother=None,
        son_name=None,
        uyghur=False,
        uyghur2=False,
    ):
        r = self.r
        hid = f"H{hh_no:05d}"
        members = []
        if uyghur:
            f = self.add_person(
                "买买提·吐尔逊", True, self.birth(48, 60), area="650102", room=room, minority=True
            )
            m = self.add_person(
                "阿依古丽·买买提",
                False,
                self.birth(45, 58),
                area="650102",
                room=room,
                minority=True,
            )
            s = self.add_person(
                "艾力·买买提", True, self.birth(20, 26), area="650102", room=room, minority=True
            )
            members = [(f, "户主"), (m, "配偶"), (s, "子")]
        elif uyghur2:
            f = self.add_person(
                "艾力·吐尔逊", True, self.birth(40, 50), area="650102", room=room, minority=True
            )
            d = self.add_person(
                "古丽娜尔·艾力", False, self.birth(17, 22), area="650102", room=room, minority=True
            )
            members = [(f, "户主"), (d, "女")]
        else:
            if head:
                sur, giv, male = head
            else:
                male = r.random() < 0.6
                sur, giv = r.choice(SURNAMES), self.given(male)
            hb = self.birth(32, 75)
            hp = self.add_person(sur + giv, male, hb, room=room)
            members.append((hp, "户主"))
            if brother:
                bp = self.add_person(
                    brother[0] + brother[1],
                    True,
                    hb + dt.timedelta(days=r.randint(500, 1500)),
                    room=room,
                )
                members.append((bp, "兄弟"))
            if r.random() < 0.75 or twins:
                sp = self.add_person(
                    r.choice(SURNAMES) + self.given(not male),
                    not male,
                    hb + dt.timedelta(days=r.randint(-1500, 1500)),
                    room=room,
                )
                members.append((sp, "配偶"))
            if twins:
                sur2, a, b = twins
                tb = self.birth(8, 24)
                male = a in ("子轩", "浩然", "浩宇")
                s = r.randint(10, 900)
                t1 = self.add_person(
                    sur2 + a, male, tb, room=room, nid=self.nid("330106", tb, male, s)
                )
                t2 = self.add_person(
                    sur2 + b,
                    "子轩" in b or "浩" in b,
                    tb,
                    room=room,
                    nid=self.nid("330106", tb, "子轩" in b or "浩" in b, s + 2),
                )
                t1["tag"] = t2["tag"] = "twin"
                members += [(t1, "子女"), (t2, "子女")]
            elif son_name:
                sb = hb + dt.timedelta(days=365 * r.randint(24, 30))
                sp2 = self.add_person(son_name[0] + son_name[1], True, sb, room=room)
                members.append((sp2, "子"))
            else:
                for _ in range(r.choice([0, 1, 1, 2])):
                    cm = r.random() < 0.5
                    cb = hb + dt.timedelta(days=365 * r.randint(22, 34) + r.randint(0, 300))
                    if cb.year > 2025:
                        continue
                    cp = self.add_person(sur + self.given(cm), cm, cb, room=room)
                    members.append((cp, "子" if cm else "女"))
            if r.random() < 0.12 and hb.year > 1965:
                gp = self.add_person(
                    sur + self.given(True, 2),
                    True,
                    hb - dt.timedelta(days=365 * 27),
                    room=room,
                    phone=r.random() < 0.5,
                )
                members.append((gp, "父"))
        for p, rel in members:
            p["hh"] = hid
            p["rel"] = rel
            room["hh"].append(p["pid"])

    # ---------------- text renderers ----------------
    def addr_text(self, room, kind):
        st, rd, no, b, u, rm = (
            room["street"],
            room["road"],
            room["no"],
            room["b"],
            room["u"],
            room["room"],
        )
        if kind == "canonical":
            t = f"浙江省杭州市西湖区{st}{rd}{no}号院{b}号楼{u}单元{rm}室"
        elif kind == "short":
            t = f"西湖区{rd}{no}号院{b}号楼{u}单元{rm}室"
        elif kind == "dash":
            t = f"{rd}{no}号院{b}-{u}-{rm}"
        elif kind == "zhuang":
            t = f"杭州市西湖区{rd}{no}号{b}幢{u}单元{rm}室"
        elif kind == "bur-only":
            t = f"{b}号楼{u}单元{rm}室"
        elif kind == "fullwidth":
            t = fwdigits(f"西湖区{st}{rd}{no}号院{b}号楼{u}单元{rm}室")
        elif kind == "reversed":
            t = f"{b}号楼{u}单元{rm}室，{rd}{no}号院，西湖区{st}"
        elif kind == "cn-num":
            t = f"{rd}{no}号院{cn_num(b)}号楼{cn_num(u)}单元{cn_num(rm)}室"
        else:
            raise ValueError(kind)
        self.places.setdefault(t, {"place": room["place"], "kind": kind, "grid": room["grid"]})
        return t

    def address(self, room, agency, noisy):
        if noisy:
            kind = self.r.choice(
                ["dash", "zhuang", "bur-only", "fullwidth", "reversed", "cn-num", "dash", "zhuang"]
            )
        else:
            kind = "canonical" if agency == "civil" else "short"
        return {"text": self.addr_text(room, kind), "grid": room["grid"]}

    def name_variant(self, p):
        r = self.r
        name = p["name"]
        if p["minority"]:
            return name.replace("·", r.choice(MIDDLE_DOT_VARIANTS[1:])), "dot-variant"
        k = r.random()
        if k < 0.3:
            sp = r.choice(["\u3000", " "])
            return name[0] + sp + name[1:], "space"
        if k < 0.7:
            idx = [i for i, c in enumerate(name) if c in HOMO]
            if idx:
                i = r.choice(idx)
                return name[:i] + HOMO[name[i]] + name[i + 1 :], "homophone"
        idx = [i for i, c in enumerate(name) if c in LOOK]
        if idx:
            i = r.choice(idx)
            return name[:i] + LOOK[name[i]] + name[i + 1 :], "lookalike"
        idx = [i for i, c in enumerate(name) if c in HOMO]
        if idx:
            i = r.choice(idx)
            return name[:i] + HOMO[name[i]] + name[i + 1 :], "homophone"
        return name[0] + "\u3000" + name[1:], "space"

    def person_fields(self, p, agency, want):
        """want: set of fields the agency normally records. Returns (fields, noise list)."""
        r = self.r
        f = {"name": p["name"]}
        if "nid" in want:
            f["national_id"] = p["nid"]
        if "gender" in want:
            f["gender"] = "M" if p["male"] else "F"
        if "birth" in want:
            f["birth_date"] = p["birth"].isoformat()
        if "phone" in want and p["phone"]:
            f["phone"] = p["phone"]
        noise = []
        rate = self.noise * (0.4 if agency == "civil" else 1.0)
        if r.random() < rate:
            n_corr = 1 if r.random() < 0.6 else 2
            opts = ["name", "phone-drop", "phone-typo"]
            if "national_id" in f:
                opts += ["nid-drop", "nid-digit", "nid-transpose"]
            if "birth_date" in f:
                opts += ["birth-typo"]
            if agency == "civil":
                opts = ["name", "phone-drop"]
            for c in r.sample(opts, min(n_corr, len(opts))):
                if c == "name":
                    f["name"], how = self.name_variant(p)
                    noise.append("name-" + how)
                elif c == "phone-drop" and "phone" in f:
                    del f["phone"]
                    noise.append(c)
                elif c == "phone-typo" and "phone" in f:
                    s = list(f["phone"])
                    i = r.randint(3, 10)
                    s[i] = r.choice([d for d in "0123456789" if d != s[i]])
                    f["phone"] = "".join(s)
                    noise.append(c)
                elif c == "nid-drop":
                    del f["national_id"]
                    noise.append(c)
                elif c == "nid-digit" and "national_id" in f:
                    s = list(f["national_id"])
                    i = r.randint(0, 16)
                    s[i] = r.choice([d for d in "0123456789" if d != s[i]])
                    f["national_id"] = "".join(s)
                    noise.append(c)
                elif c == "nid-transpose" and "national_id" in f:
                    s = list(f["national_id"])
                    for _ in range(20):
                        i = r.randint(6, 15)
                        if s[i] != s[i + 1]:
                            s[i], s[i + 1] = s[i + 1], s[i]
                            break
                    f["national_id"] = "".join(s)
                    noise.append(c)
                elif c == "birth-typo":
                    b = p["birth"]
                    if b.day <= 12 and b.month != b.day:
                        f["birth_date"] = dt.date(b.year, b.day, b.month).isoformat()
                    else:
                        f["birth_date"] = (b + dt.timedelta(days=r.choice([-1, 1, 10]))).isoformat()
                    noise.append(c)
        return f, noise

    # ---------------- events ----------------
    def emit(self, t, agency, typ, subject, data):
        self.seq += 1
        eid = f"{agency[:2]}-{self.seq:05d}"
        self.events.append(
            {"t": t, "agency": agency, "type": typ, "subject": subject, "data": data, "eid": eid}
        )
        return eid

    def mention(self, key, p, fields, noise, where):
        self.mentions[key] = {
            "person": p["pid"],
            "fields": fields,
            "noise": noise,
            "where": where,
            "true_name": p["name"],
            "tag": p.get("tag", ""),
        }

    def ts(self, base, minutes):
        return base + dt.timedelta(minutes=minutes)

    def run(self):
        r = self.r
        tz = dt.timezone(dt.timedelta(hours=8))
        t0 = dt.datetime(2025, 6, 1, 9, 0, tzinfo=tz)
        # civil register
        rid = 0
        residents = [p for p in self.people.values() if p["resident"]]
        for p in residents:
            rid += 1
            p["rid"] = f"R330106{rid:06d}"
            noisy = r.random() < self.noise * 0.3
            f, noise = self.person_fields(p, "civil", {"nid", "gender", "birth", "phone"})
            data = {
                "resident_id": p["rid"],
                "person": f,
                "address": self.address(p["room"], "civil", noisy),
                "household_id": p["hh"],
                "relation": p["rel"],
            }
            self.emit(
                self.ts(t0, r.randint(0, 200000)),
                "civil",
                "civil.resident.registered",
                p["rid"],
                data,
            )
            self.mention(
                f"civil|{p['rid']}", p, f, noise + (["addr"] if noisy else []), "civil.resident"
            )
        # some move within the town
        free_rooms = [rm for rm in self.rooms if not rm["hh"]]
        movers = r.sample(residents, 12)
        tm = dt.datetime(2026, 1, 5, 9, 0, tzinfo=tz)
        for p in movers:
            new = free_rooms.pop()
            p["old_room"] = p["room"]
            p["room"] = new
            self.emit(
                self.ts(tm, r.randint(0, 60000)),
                "civil",
                "civil.resident.moved",
                p["rid"],
                {
                    "resident_id": p["rid"],
                    "address": self.address(new, "civil", False),
                    "moved_on": "2026-01-20",
                },
            )
        for p in r.sample(
            [x for x in residents if 2026 - x["birth"].year > 70] or residents[:2], 2
        ):
            self.emit(
                self.ts(tm, 70000 + r.randint(0, 1000)),
                "civil",
                "civil.resident.deceased",
                p["rid"],
                {"resident_id": p["rid"], "died_on": "2026-02-01"},
            )
            p["dead"] = True
        alive = [p for p in self.people.values() if not p.get("dead")]
        adults = [p for p in alive if 2026 - p["birth"].year >= 18]
        self.matters(adults, tz)

    def party_set(self, adults, k):
        """k persons for a matter: mostly neighbours, sometimes outsiders; persons recur across matters."""
        r = self.r
        first = r.choice(adults)
        ps = [first]
        while len(ps) < k:
            if r.random() < 0.25:
                cand = [p for p in adults if not p["resident"]]
            elif first["room"] and r.random() < 0.6:
                cand = [
                    p
                    for p in adults
                    if p["resident"] and p["room"] and p["room"]["grid"] == first["room"]["grid"]
                ]
            else:
                cand = adults
            c = r.choice(cand)
            if c not in ps:
                ps.append(c)
        return ps

    def matters(self, adults, tz):
        r = self.r
        base = dt.datetime(2026, 1, 6, 8, 0, tzinfo=tz)
        cn = pn = jn = kn = 0
        # favour trap people as actors so their records are numerous
        trap = [
            p
            for p in adults
            if p["name"]
            in ("王伟", "张伟", "李娜", "刘洋", "王芳", "黎娜", "张敏", "章敏", "陈静", "程静")
            or p.get("tag") == "twin"
            or p["minority"]
            or p["name"] in ("王建国", "王建军", "刘明", "刘明轩")
        ]
        pool = adults + trap * 2
        for m in range(150):
            kind = r.choices(
                ["dispute", "call", "referral", "hotline", "court"], [40, 30, 8, 12, 10]
            )[0]
            t = self.ts(base, m * 600 + r.randint(0, 500))
            mid = f"M{m:03d}"
            ps = self.party_set(pool, 2 if kind != "hotline" else 1)
            room = next((p["room"] for p in ps if p["room"]), r.choice(self.rooms))
            noisy_addr = lambda: r.random() < self.noise  # noqa: E731
            if kind in ("dispute", "hotline", "referral"):
                cn += 1
                cid = f"C3301062026{cn:05d}"
                self.threads[f"city|case|{cid}"] = mid
                if kind == "referral":
                    jn += 1
                    jid = f"J33010620260{jn:05d}"
                    self.threads[f"police|incident|{jid}"] = mid
                    caller = ps[0]
                    f, noise = self.person_fields(caller, "police", {"phone"})
                    self.emit(
                        t,
                        "police",
                        "police.incident.reported",
                        jid,
                        {
                            "incident_id": jid,
                            "category": "neighbour-dispute",
                            "summary": "110报警：邻里纠纷",
                            "address": self.address(room, "police", noisy_addr()),
                            "caller": f,
                        },
                    )
                    self.mention(f"police|{jid}/caller", caller, f, noise, "police.caller")
                    self.emit(
                        self.ts(t, 20),
                        "police",
                        "police.incident.referred",
                        jid,
                        {"incident_id": jid, "to_agency": "city", "reason": "邻里纠纷，转网格调解"},
                    )
                    t = self.ts(t, 45)
                data = {
                    "case_id": cid,
                    "category": "neighbour-dispute" if kind != "hotline" else "illegal-parking",
                    "description": "网格上报：邻里纠纷"
                    if kind != "hotline"
                    else "市民热线：占道停车",
                    "channel": "grid-member" if kind != "hotline" else "hotline",
                    "address": self.address(room, "city", noisy_addr()),
                }
                if kind == "hotline":
                    f, noise = self.person_fields(ps[0], "city", {"phone"})
                    data["reporter"] = f
                    self.mention(f"city|{cid}/reporter", ps[0], f, noise, "city.reporter")
                else:
                    data["persons"] = []
                    for i, p in enumerate(ps):
                        want = {"phone"} | ({"nid"} if r.random() < 0.5 else set())
                        f, noise = self.person_fields(p, "city", want)
                        data["persons"].append({"role": "party", "person": f})
                        self.mention(f"city|{cid}/{i}", p, f, noise, "city.party")
                    if r.random() < 0.3:
                        f, noise = self.person_fields(ps[0], "city", {"phone"})
                        data["reporter"] = f
                        self.mention(f"city|{cid}/reporter", ps[0], f, noise, "city.reporter")
                self.emit(t, "city", "city.case.reported", cid, data)
                due = self.ts(t, 60 * 24 * 3).isoformat()
                self.emit(
                    self.ts(t, 30),
                    "city",
                    "city.case.registered",
                    cid,
                    {"case_id": cid, "level": "grid", "due_at": due},
                )
                self.emit(
                    self.ts(t, 60),
                    "city",
                    "city.case.dispatched",
                    cid,
                    {"case_id": cid, "department": "街道综治中心", "due_at": due},
                )
                if kind == "dispute" and r.random() < 0.45:
                    self.emit(
                        self.ts(t, 300),
                        "city",
                        "city.case.escalated",
                        cid,
                        {"case_id": cid, "to_agency": "police", "reason": "矛盾升级，需要公安介入"},
                    )
                    pn += 1
                    aid = f"A33010620260{pn:05d}"
                    self.threads[f"police|case|{aid}"] = mid
                    self.emit(
                        self.ts(t, 400),
                        "police",
                        "police.case.opened",
                        aid,
                        {
                            "case_id": aid,
                            "offence": "寻衅滋事",
                            "address": self.address(room, "police", noisy_addr()),
                            "refs": [{"agency": "city", "kind": "case", "id": cid}],
                        },
                    )
                    self.involve(aid, ps, t, "case")
                    if r.random() < 0.4:
                        kn += 1
                        self.court(
                            kn,
                            mid,
                            ps,
                            self.ts(t, 60 * 24 * 20),
                            [{"agency": "police", "kind": "case", "id": aid}],
                            "civil",
                        )
                else:
                    self.emit(
                        self.ts(t, 600),
                        "city",
                        "city.case.handled",
                        cid,
                        {"case_id": cid, "result": "已现场调解"},
                    )
                    self.emit(
                        self.ts(t, 700),
                        "city",
                        "city.case.verified",
                        cid,
                        {"case_id": cid, "passed": True},
                    )
                    self.emit(
                        self.ts(t, 720),
                        "city",
                        "city.case.closed",
                        cid,
                        {"case_id": cid, "outcome": "办结"},
                    )
                    if kind == "dispute" and r.random() < 0.12:
                        kn += 1
                        self.court(
                            kn,
                            mid,
                            ps,
                            self.ts(t, 60 * 24 * 30),
                            [{"agency": "city", "kind": "case", "id": cid}],
                            "civil",
                        )
            elif kind == "call":
                jn += 1
                jid = f"J33010620260{jn:05d}"
                self.threads[f"police|incident|{jid}"] = mid
                f, noise = self.person_fields(ps[0], "police", {"phone"})
                self.emit(
                    t,
                    "police",
                    "police.incident.reported",
                    jid,
                    {
                        "incident_id": jid,
                        "category": r.choice(["theft", "fight", "fraud"]),
                        "summary": "110报警",
                        "address": self.address(room, "police", noisy_addr()),
                        "caller": f,
                    },
                )
                self.mention(f"police|{jid}/caller", ps[0], f, noise, "police.caller")
                if r.random() < 0.5:
                    pn += 1
                    aid = f"A33010620260{pn:05d}"
                    self.threads[f"police|case|{aid}"] = mid
                    self.emit(
                        self.ts(t, 90),
                        "police",
                        "police.case.opened",
                        aid,
                        {
                            "case_id": aid,
                            "offence": "盗窃",
                            "incident_id": jid,
                            "address": self.address(room, "police", noisy_addr()),
                        },
                    )
                    self.involve(aid, ps, t, "case")
                    if r.random() < 0.35:
                        kn += 1
                        self.court(
                            kn,
                            mid,
                            ps,
                            self.ts(t, 60 * 24 * 40),
                            [{"agency": "police", "kind": "case", "id": aid}],
                            "criminal",
                        )
                    else:
                        self.emit(
                            self.ts(t, 60 * 24 * 5),
                            "police",
                            "police.case.closed",
                            aid,
                            {"case_id": aid, "disposition": "行政处罚"},
                        )
                else:
                    self.involve(jid, ps[1:], t, "incident")
            else:  # direct court civil case (debt), no prior refs
                kn += 1
                self.court(kn, mid, ps, t, None, "civil")

    def involve(self, xid, ps, t, what):
        r = self.r
        roles = ["victim", "suspect"] if what == "case" else ["witness", "party"]
        for i, p in enumerate(ps):
            role = roles[min(i, 1)] if what == "case" else r.choice(roles)
            want = {"nid", "gender", "birth"} | ({"phone"} if r.random() < 0.7 else set())
            f, noise = self.person_fields(p, "police", want)
            if r.random() < 0.1 and self.noise == 0:
                pass
            key = "case_id" if what == "case" else "incident_id"
            eid = self.emit(
                self.ts(t, 100 + i),
                "police",
                "police.person.involved",
                xid,
                {key: xid, "role": role, "person": f},
            )
            self.mention(f"police|{xid}/{role}/{eid}", p, f, noise, f"police.{what}.{role}")

    def court(self, kn, mid, ps, t, refs, ctype):
        r = self.r
        kid = f"(2026)浙0106{'民初' if ctype == 'civil' else '刑初'}{kn}号"
        self.threads[f"court|case|{kid}"] = mid
        parties = []
        roles = ["plaintiff", "defendant"] if ctype == "civil" else ["victim", "defendant"]
        for i, p in enumerate(ps):
            want = {"nid", "gender", "birth"} | ({"phone"} if r.random() < 0.5 else set())
            f, noise = self.person_fields(p, "court", want)
            parties.append({"role": roles[min(i, 1)], "person": f})
            self.mention(f"court|{kid}/{i}", p, f, noise, "court.party")
        data = {
            "case_id": kid,
            "case_type": ctype,
            "cause": "民间借贷纠纷" if ctype == "civil" else "盗窃罪",
            "parties": parties,
        }
        if refs:
            data["refs"] = refs
        self.emit(t, "court", "court.case.filed", kid, data)
        self.emit(
            self.ts(t, 60 * 24 * 10),
            "court",
            "court.hearing.scheduled",
            kid,
            {"case_id": kid, "at": self.ts(t, 60 * 24 * 30).isoformat()},
        )
        if r.random() < 0.5:
            self.emit(
                self.ts(t, 60 * 24 * 31),
                "court",
                "court.judgment.issued",
                kid,
                {"case_id": kid, "outcome": "判决"},
            )

    # ---------------- output ----------------
    def publication_order(self):
        r = self.r
        evs = sorted(self.events, key=lambda e: e["t"])
        late = [e for e in evs if r.random() < self.late]
        rest = [e for e in evs if e not in late]
        r.shuffle(late)
        return rest + late

    def write(self, out):
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "events.jsonl"), "w") as fh:
            for e in self.publication_order():
                ce = {
                    "specversion": "1.0",
                    "id": e["eid"],
                    "source": f"/agency/{e['agency']}/probe10",
                    "type": e["type"],
                    "time": e["t"].isoformat(),
                    "subject": e["subject"],
                    "agency": e["agency"],
                    "datacontenttype": "application/json",
                    "data": e["data"],
                }
                fh.write(json.dumps(ce, ensure_ascii=False) + "\n")
        people = {
            pid: {
                "name": p["name"],
                "nid": p["nid"],
                "birth": p["birth"].isoformat(),
                "phone": p["phone"],
                "hh": p.get("hh"),
                "resident": p["resident"],
                "tag": p.get("tag", ""),
                "place": p["room"]["place"] if p["room"] else None,
            }
            for pid, p in self.people.items()
        }
        json.dump(
            {
                "mentions": self.mentions,
                "threads": self.threads,
                "places": self.places,
                "people": people,
                "grids": sorted({rm["grid"] for rm in self.rooms}),
            },
            open(os.path.join(out, "truth.json"), "w"),
            ensure_ascii=False,
            indent=0,
        )
        print(
            f"{len(self.events)} events, {len(self.people)} people, {len(self.mentions)} mentions, "
            f"{len(set(self.threads.values()))} matters, {len(self.places)} address texts -> {out}"
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument(
        "--late", type=float, default=0.08, help="share of events published late, out of order"
    )
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    t = Town(a.seed, a.noise, a.late)
    t.build()
    t.run()
    t.write(a.out)


if __name__ == "__main__":
    main()
