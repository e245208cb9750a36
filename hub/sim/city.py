"""A simulated city that exercises all four agencies, deterministic for a seed.

Geography nests like the real codes: district (6 digits) → street (+3) → community (+3) →
grid (+2). Addresses are standard addresses (road, number, compound, building, unit,
floor, room). Residents live in households with valid GB 11643 numbers. Civil affairs
registers, moves, records deaths and grants assistance; the city's grid members and hotline
report cases that walk the GB/T 30428 stages with realistic delays (some late); 110 calls
come in, neighbour disputes among them are referred to the grid; police cases cite city
cases; courts file cases citing police and city cases, mediate, hear, judge, seal a few.

A configurable share of records is noisy the way agency data is: a typo in a name, a
missing or mistyped identity number, an address written another way, a changed phone.
Beside every event the simulator writes the ground truth: which real person, place and
matter each mention is about, for measuring resolution quality.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from hub.sim.people import GIVEN, SURNAMES, TYPOS, national_id
from hub.sim.world import City, Person, Place, build_world

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
CST = "+08:00"

CITY_CATEGORIES = {  # category → (time limit in hours, share)
    "garbage": (24, 0.2), "illegal-parking": (8, 0.15), "road-damage": (72, 0.1),
    "noise": (24, 0.15), "neighbour-dispute": (48, 0.15), "illegal-construction": (120, 0.1),
    "street-vendor": (4, 0.1), "greening": (96, 0.05),
}
INCIDENT_CATEGORIES = ("dispute", "theft", "traffic", "noise", "fraud", "assault")
ASSISTANCE = ("dibao", "tekun", "disability", "elderly-care")



@dataclass
class SimConfig:
    seed: int = 1
    events: int = 10_000
    noise: float = 0.1
    days: int = 300
    start: datetime = START  # the demo ends its timeline at now, so some cases are not yet due


@dataclass
class Emitted:
    time: datetime
    event: dict[str, Any]
    truth: dict[str, Any]


class Simulator:
    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.city = City()
        self.out: list[Emitted] = []
        self.seq = 0
        self.matter_seq = 0
        self.police_seq = 0
        self.court_seq = 0

    # -- the world ---------------------------------------------------------------------
    def build(self) -> None:
        build_world(self.city, self.rng, max(20, int(self.cfg.events * 0.34)), self._person)

    def _person(self, region: str) -> Person:
        rng = self.rng
        female = rng.random() < 0.5
        birth = datetime(1935, 1, 1) + timedelta(days=rng.randrange(0, 365 * 70))
        nid = national_id(rng, region, birth, female)
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN)
                                              for _ in range(rng.choice((1, 2, 2))))
        phones = [f"1{rng.choice('3578')}{rng.randrange(0, 10**9):09d}" for _ in range(2)]
        n = len(self.city.residents) + len(self.city.visitors) + 1
        return Person(f"TP-{n:08d}", nid, name,
                      "F" if female else "M", f"{birth:%Y-%m-%d}", phones)

    # -- mentions with noise -----------------------------------------------------------
    def _mention(self, p: Person, noisy: bool, full: bool = True) -> dict[str, Any]:
        rng = self.rng
        m: dict[str, Any] = {"name": p.name}
        if full or rng.random() < 0.7:
            m["national_id"] = p.national_id
        if full or rng.random() < 0.5:
            m["gender"] = p.gender
            m["birth_date"] = p.birth
        m["phone"] = p.phones[0]
        if noisy:
            kind = rng.choice(("typo", "id-missing", "id-mistyped", "phone"))
            if kind == "typo":
                chars = list(p.name)
                idx = [i for i, c in enumerate(chars) if c in TYPOS]
                if idx:
                    i = rng.choice(idx)
                    chars[i] = TYPOS[chars[i]]
                    m["name"] = "".join(chars)
            elif kind == "id-missing":
                m.pop("national_id", None)
            elif kind == "id-mistyped":
                nid = list(p.national_id)
                i = rng.randrange(6, 17)
                nid[i] = str((int(nid[i]) + rng.randrange(1, 10)) % 10)
                m["national_id"] = "".join(nid)
            else:
                m["phone"] = p.phones[1]
        return m

    def _address(self, place: Place, noisy: bool) -> dict[str, Any]:
        text = self.rng.choice(place.variants()[1:]) if noisy else place.canonical()
        return {"text": text, "grid": place.grid}

    def _emit(self, agency: str, etype: str, t: datetime, subject: str, data: dict[str, Any],
              truth: dict[str, Any], noisy: bool) -> None:
        self.seq += 1
        eid = f"{agency[:2]}-{self.seq:09d}"
        local = t.astimezone(UTC) + timedelta(hours=8)
        event = {
            "specversion": "1.0", "id": eid, "source": f"/agency/{agency}/sim",
            "type": etype, "time": local.replace(tzinfo=None).isoformat() + CST,
            "subject": subject, "agency": agency, "datacontenttype": "application/json",
            "dataschema": f"https://civic-hub.example/schemas/{agency}/{etype}/v1", "data": data,
        }
        self.out.append(Emitted(t, event, {"id": eid, "source": event["source"], "noisy": noisy,
                                           **truth}))

    def _noisy(self) -> bool:
        return self.rng.random() < self.cfg.noise

    def _when(self, lo_days: float = 0, hi_days: float | None = None) -> datetime:
        hi = self.cfg.days if hi_days is None else hi_days
        return self.cfg.start + timedelta(seconds=self.rng.uniform(lo_days, hi) * 86400)

    def _matter(self) -> str:
        self.matter_seq += 1
        return f"TM-{self.matter_seq:08d}"

    # -- stories -----------------------------------------------------------------------
    def civil(self) -> None:
        rng = self.rng
        for p in self.city.residents:
            assert p.place is not None and p.resident_id is not None
            t = self._when(0, 20)
            noisy = self._noisy()
            self._emit("civil", "civil.resident.registered", t, p.resident_id, {
                "resident_id": p.resident_id, "person": self._mention(p, noisy),
                "address": self._address(p.place, noisy), "household_id": p.household_id,
                "relation": rng.choice(("户主", "配偶", "子女", "父母"))},
                {"persons": {"person": p.id}, "places": {"address": p.place.id}}, noisy)
            if rng.random() < 0.08:
                new = rng.choice(self.city.places)
                tm = self._when(25)
                noisy = self._noisy()
                self._emit("civil", "civil.resident.moved", tm, p.resident_id, {
                    "resident_id": p.resident_id, "address": self._address(new, noisy),
                    "moved_on": f"{tm:%Y-%m-%d}"},
                    {"persons": {"resident_id": p.id}, "places": {"address": new.id}}, noisy)
                p.place = new
            if rng.random() < 0.04:
                self._emit("civil", "civil.assistance.granted", self._when(25), p.resident_id, {
                    "resident_id": p.resident_id, "program": rng.choice(ASSISTANCE),
                    "monthly_amount": rng.choice((800, 1200, 1500)),
                    "from": f"{self._when(25):%Y-%m-%d}"},
                    {"persons": {"resident_id": p.id}}, False)
            if rng.random() < 0.01:
                td = self._when(30)
                self._emit("civil", "civil.resident.deceased", td, p.resident_id, {
                    "resident_id": p.resident_id, "died_on": f"{td:%Y-%m-%d}"},
                    {"persons": {"resident_id": p.id}}, False)
                p.alive = False

    def city_case(self, n: int, place: Place, t: datetime, parties: list[Person], category: str,
                  channel: str, matter: str, reporter: Person | None = None,
                  escalate: bool = False) -> str:
        rng = self.rng
        case_id = f"C{t:%Y}{n:07d}"
        noisy = self._noisy()
        data: dict[str, Any] = {"case_id": case_id, "category": category,
                                "description": f"{category} 网格上报", "channel": channel,
                                "address": self._address(place, noisy)}
        truth: dict[str, Any] = {"matter": matter, "persons": {}, "places": {"address": place.id}}
        if reporter is not None:
            data["reporter"] = self._mention(reporter, noisy, full=False)
            truth["persons"]["reporter"] = reporter.id
        if parties:
            data["persons"] = [{"role": "party", "person": self._mention(p, noisy, full=False)}
                               for p in parties]
            for i, p in enumerate(parties):
                truth["persons"][f"persons[{i}].person"] = p.id
        self._emit("city", "city.case.reported", t, case_id, data, truth, noisy)
        limit = CITY_CATEGORIES[category][0]
        step = {"matter": matter}
        t1 = t + timedelta(minutes=rng.randrange(5, 90))
        if t1 > self.cfg.start + timedelta(days=self.cfg.days):
            return case_id
        self._emit("city", "city.case.registered", t1, case_id, {
            "case_id": case_id, "level": rng.choice(("grid", "community", "street")),
            "due_at": (t1 + timedelta(hours=limit)).isoformat()}, step, False)
        if escalate:
            self._emit("city", "city.case.escalated", t1 + timedelta(hours=2), case_id, {
                "case_id": case_id, "to_agency": "police", "reason": "矛盾升级，需要公安介入"},
                step, False)
        t2 = t1 + timedelta(minutes=rng.randrange(10, 240))
        due = t2 + timedelta(hours=limit)
        self._emit("city", "city.case.dispatched", t2, case_id, {
            "case_id": case_id,
            "department": rng.choice(("城管执法队", "街道办", "物业", "环卫所")),
            "due_at": due.isoformat()}, step, False)
        late = rng.random() < 0.15
        # In the last four days of the timeline, most cases are still being handled
        # (nothing reported back yet); older ones were all handled, some late.
        recent = t2 > self.cfg.start + timedelta(days=self.cfg.days - 4)
        if recent and rng.random() < 0.6:
            return case_id
        t3 = (due + timedelta(hours=rng.uniform(1, 72)) if late
              else t2 + (due - t2) * rng.uniform(0.1, 0.95))
        self._emit("city", "city.case.handled", t3, case_id, {
            "case_id": case_id, "result": "已现场处置"}, step, False)
        t4 = t3 + timedelta(hours=rng.uniform(1, 12))
        if rng.random() < 0.1:  # failed verification: handled again
            self._emit("city", "city.case.verified", t4, case_id, {
                "case_id": case_id, "passed": False}, step, False)
            t4 += timedelta(hours=rng.uniform(4, 48))
            self._emit("city", "city.case.handled", t4 - timedelta(hours=1), case_id, {
                "case_id": case_id, "result": "返工后处置完毕"}, step, False)
        self._emit("city", "city.case.verified", t4, case_id, {
            "case_id": case_id, "passed": True}, step, False)
        self._emit("city", "city.case.closed", t4 + timedelta(hours=rng.uniform(0.5, 6)),
                   case_id, {"case_id": case_id, "outcome": "办结"}, step, False)
        return case_id

    def cases(self) -> None:
        rng = self.rng
        res = [p for p in self.city.residents if p.place is not None]
        n_city = max(3, int(self.cfg.events * 0.093))
        n_incidents = max(2, int(self.cfg.events * 0.031))
        cats = list(CITY_CATEGORIES)
        weights = [CITY_CATEGORIES[c][1] for c in cats]
        disputes: list[tuple[str, str, Place, list[Person], datetime]] = []
        for n in range(1, n_city + 1):
            category = rng.choices(cats, weights)[0]
            who = rng.choice(res)
            assert who.place is not None
            t = self._when(20)
            matter = self._matter()
            if category == "neighbour-dispute":
                neighbour = rng.choice(res)
                escalate = rng.random() < 0.2
                case_id = self.city_case(n, who.place, t, [who, neighbour], category,
                                         "grid-member", matter, escalate=escalate)
                if escalate:
                    disputes.append((matter, case_id, who.place, [who, neighbour], t))
            else:
                channel = rng.choice(("grid-member", "hotline", "video", "citizen"))
                reporter = who if channel in ("hotline", "citizen") else None
                self.city_case(n, who.place, t, [], category, channel, matter, reporter)
        # Escalated disputes: police open a case citing the city case; some go to court.
        for k, (matter, city_case, place, parties, t) in enumerate(disputes):
            pcase = self.police_case(k, place, t + timedelta(hours=3), parties, matter,
                                     refs=[{"agency": "city", "kind": "case", "id": city_case}])
            if rng.random() < 0.5:
                self.court(k, t + timedelta(days=rng.uniform(5, 30)), parties, matter,
                           [{"agency": "police", "kind": "case", "id": pcase},
                            {"agency": "city", "kind": "case", "id": city_case}])
        # 110 calls.
        for k in range(1, n_incidents + 1):
            caller = rng.choice(res)
            assert caller.place is not None
            t = self._when(20)
            matter = self._matter()
            category = rng.choice(INCIDENT_CATEGORIES)
            inc = f"J{t:%Y%m%d}{k:06d}"
            noisy = self._noisy()
            self._emit("police", "police.incident.reported", t, inc, {
                "incident_id": inc, "category": category, "summary": f"110报警：{category}",
                "address": self._address(caller.place, noisy),
                "caller": self._mention(caller, noisy, full=False)},
                {"matter": matter, "persons": {"caller": caller.id},
                 "places": {"address": caller.place.id}}, noisy)
            if category == "dispute" and rng.random() < 0.6:
                # A neighbour dispute referred to grid mediation (分流): the city registers it.
                self._emit("police", "police.incident.referred", t + timedelta(minutes=30), inc,
                           {"incident_id": inc, "to_agency": "city",
                            "reason": "邻里纠纷，转网格调解"}, {"matter": matter}, False)
                other = rng.choice(res)
                self.city_case(n_city + k, caller.place, t + timedelta(hours=1), [caller, other],
                               "neighbour-dispute", "hotline", matter)
            elif category in ("theft", "fraud", "assault") and rng.random() < 0.5:
                victim = caller
                suspect = rng.choice(self.city.visitors + res)
                pcase = self.police_case(n_incidents + k, caller.place, t + timedelta(hours=2),
                                         [victim, suspect], matter, incident=inc)
                if rng.random() < 0.3:
                    self.court(n_incidents + k, t + timedelta(days=rng.uniform(10, 60)),
                               [victim, suspect], matter,
                               [{"agency": "police", "kind": "case", "id": pcase}],
                               criminal=True)

    def police_case(self, k: int, place: Place, t: datetime, parties: list[Person], matter: str,
                    refs: list[dict[str, str]] | None = None, incident: str | None = None) -> str:
        rng = self.rng
        self.police_seq += 1
        pcase = f"A{t:%Y}{self.police_seq:07d}"
        data: dict[str, Any] = {"case_id": pcase, "offence": rng.choice(("寻衅滋事", "盗窃", "诈骗",
                                                                         "故意伤害")),
                                "address": self._address(place, False)}
        if refs:
            data["refs"] = refs
        if incident:
            data["incident_id"] = incident
        self._emit("police", "police.case.opened", t, pcase, data,
                   {"matter": matter, "places": {"address": place.id}}, False)
        for i, (p, role) in enumerate(zip(parties, ("victim", "suspect"), strict=False)):
            noisy = self._noisy()
            self._emit("police", "police.person.involved", t + timedelta(hours=i + 1), pcase, {
                "case_id": pcase, "role": role, "person": self._mention(p, noisy)},
                {"matter": matter, "persons": {"person": p.id}}, noisy)
        if rng.random() < 0.7:
            self._emit("police", "police.case.closed", t + timedelta(days=rng.uniform(3, 40)),
                       pcase, {"case_id": pcase, "disposition": rng.choice(
                           ("调解结案", "移送起诉", "行政处罚"))}, {"matter": matter}, False)
        return pcase

    def court(self, k: int, t: datetime, parties: list[Person], matter: str,
              refs: list[dict[str, str]], criminal: bool = False) -> None:
        rng = self.rng
        self.court_seq += 1
        kind = "刑初" if criminal else "民初"
        ccase = f"({t:%Y})京0105{kind}{self.court_seq}号"
        noisy = self._noisy()
        roles = ("victim", "defendant") if criminal else ("plaintiff", "defendant")
        self._emit("court", "court.case.filed", t, ccase, {
            "case_id": ccase, "case_type": "criminal" if criminal else "civil",
            "cause": "相邻关系纠纷" if not criminal else "盗窃罪",
            "parties": [{"role": r, "person": self._mention(p, noisy)}
                        for p, r in zip(parties, roles, strict=False)], "refs": refs},
            {"matter": matter, "persons": {f"parties[{i}].person": p.id
                                           for i, p in enumerate(parties)}}, noisy)
        t2 = t + timedelta(days=rng.uniform(5, 20))
        settled = not criminal and rng.random() < 0.6
        if not criminal:
            self._emit("court", "court.mediation.concluded", t2, ccase,
                       {"case_id": ccase, "settled": settled}, {"matter": matter}, False)
        if not settled:
            at = t2 + timedelta(days=rng.uniform(10, 30))
            self._emit("court", "court.hearing.scheduled", t2 + timedelta(days=1), ccase,
                       {"case_id": ccase, "at": at.isoformat()}, {"matter": matter}, False)
            self._emit("court", "court.judgment.issued", at + timedelta(days=rng.uniform(1, 20)),
                       ccase, {"case_id": ccase, "outcome": "判决"}, {"matter": matter}, False)
        if rng.random() < 0.05:
            self._emit("court", "court.case.sealed", t2 + timedelta(days=40), ccase,
                       {"case_id": ccase, "reason": "涉及未成年人"}, {"matter": matter}, False)

    def run(self) -> list[Emitted]:
        self.build()
        self.civil()
        self.cases()
        self.out.sort(key=lambda e: (e.time, e.event["id"]))
        return self.out


def simulate(cfg: SimConfig) -> list[Emitted]:
    return Simulator(cfg).run()


def write_jsonl(emitted: list[Emitted], events_path: str, truth_path: str,
                advance: Callable[[int], None] | None = None) -> None:
    """The events and their ground truth, line for line; ``advance(n)`` every 10,000."""
    with open(events_path, "wb") as ev, open(truth_path, "wb") as tr:
        for i, e in enumerate(emitted, 1):
            ev.write(orjson.dumps(e.event) + b"\n")
            tr.write(orjson.dumps(e.truth) + b"\n")
            if advance and (i % 10_000 == 0 or i == len(emitted)):
                advance(10_000 if i % 10_000 == 0 else i % 10_000)
