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

from hub.sim.matters import Matters
from hub.sim.people import DOTTED, GIVEN, NOISE, SURNAMES, TYPOS, national_id, swapped, written
from hub.sim.world import City, Person, Place, build_world

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
CST = "+08:00"

ASSISTANCE = ("dibao", "tekun", "disability", "elderly-care")


@dataclass
class SimConfig:
    seed: int = 1
    events: int = 10_000
    noise: float = 0.1
    days: int = 300
    start: datetime = START  # the demo ends its timeline at now, so some cases are not yet due
    late: float = 0.0  # share of agency records published late (out of event-time order)
    late_hours: float = 48.0


@dataclass
class Emitted:
    time: datetime
    event: dict[str, Any]
    truth: dict[str, Any]


class Simulator(Matters):
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
        if rng.random() < 0.03:
            first, second = rng.sample(DOTTED, 2)
            name = f"{first}·{second}"
        else:
            name = rng.choice(SURNAMES) + "".join(
                rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2)))
            )
        phones = [f"1{rng.choice('3578')}{rng.randrange(0, 10**9):09d}" for _ in range(2)]
        n = len(self.city.residents) + len(self.city.visitors) + 1
        return Person(f"TP-{n:08d}", nid, name, "F" if female else "M", f"{birth:%Y-%m-%d}", phones)

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
            kind = rng.choice(NOISE)
            if kind == "written":
                m["name"] = written(rng, p.name)
            elif kind == "id-swapped" and "national_id" in m:
                m["national_id"] = swapped(rng, m["national_id"], 6, 16)
            elif kind == "phone-swapped":
                m["phone"] = swapped(rng, m["phone"], 3, 10)
            elif kind == "phone-missing":
                m.pop("phone")
            elif kind == "typo":
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

    def publish_order(self) -> None:
        """Agencies publishing late: with ``cfg.late``, that share of agency records is sent
        up to ``cfg.late_hours`` after its events happened (each record's events still in
        their own order, as one system sends them); the rest as they happen."""
        rng = random.Random(self.cfg.seed * 7919 + 1)
        delay: dict[tuple[str, str], timedelta] = {}
        sent: dict[tuple[str, str], datetime] = {}
        keyed = []
        for e in self.out:
            key = (e.event["agency"], e.event["subject"])
            if key not in delay:
                late = rng.random() < self.cfg.late
                delay[key] = timedelta(hours=rng.uniform(0.5, self.cfg.late_hours) if late else 0)
            at = max(e.time + delay[key], sent.get(key, e.time))
            sent[key] = at
            keyed.append((at, e.event["id"], e))
        keyed.sort(key=lambda x: (x[0], x[1]))
        self.out = [e for _, _, e in keyed]

    def _address(self, place: Place, noisy: bool) -> dict[str, Any]:
        text = self.rng.choice(place.variants()[1:]) if noisy else place.canonical()
        return {"text": text, "grid": place.grid}

    def _emit(
        self,
        agency: str,
        etype: str,
        t: datetime,
        subject: str,
        data: dict[str, Any],
        truth: dict[str, Any],
        noisy: bool,
    ) -> None:
        self.seq += 1
        eid = f"{agency[:2]}-{self.seq:09d}"
        local = t.astimezone(UTC) + timedelta(hours=8)
        event = {
            "specversion": "1.0",
            "id": eid,
            "source": f"/agency/{agency}/sim",
            "type": etype,
            "time": local.replace(tzinfo=None).isoformat() + CST,
            "subject": subject,
            "agency": agency,
            "datacontenttype": "application/json",
            "dataschema": f"https://civic-hub.example/schemas/{agency}/{etype}/v1",
            "data": data,
        }
        self.out.append(
            Emitted(t, event, {"id": eid, "source": event["source"], "noisy": noisy, **truth})
        )

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
            self._emit(
                "civil",
                "civil.resident.registered",
                t,
                p.resident_id,
                {
                    "resident_id": p.resident_id,
                    "person": self._mention(p, noisy),
                    "address": self._address(p.place, noisy),
                    "household_id": p.household_id,
                    "relation": rng.choice(("户主", "配偶", "子女", "父母")),
                },
                {"persons": {"person": p.id}, "places": {"address": p.place.id}},
                noisy,
            )
            if rng.random() < 0.08:
                new = rng.choice(self.city.places)
                tm = self._when(25)
                noisy = self._noisy()
                self._emit(
                    "civil",
                    "civil.resident.moved",
                    tm,
                    p.resident_id,
                    {
                        "resident_id": p.resident_id,
                        "address": self._address(new, noisy),
                        "moved_on": f"{tm:%Y-%m-%d}",
                    },
                    {"persons": {"resident_id": p.id}, "places": {"address": new.id}},
                    noisy,
                )
                p.place = new
            if rng.random() < 0.04:
                self._emit(
                    "civil",
                    "civil.assistance.granted",
                    self._when(25),
                    p.resident_id,
                    {
                        "resident_id": p.resident_id,
                        "program": rng.choice(ASSISTANCE),
                        "monthly_amount": rng.choice((800, 1200, 1500)),
                        "from": f"{self._when(25):%Y-%m-%d}",
                    },
                    {"persons": {"resident_id": p.id}},
                    False,
                )
            if rng.random() < 0.01:
                td = self._when(30)
                self._emit(
                    "civil",
                    "civil.resident.deceased",
                    td,
                    p.resident_id,
                    {"resident_id": p.resident_id, "died_on": f"{td:%Y-%m-%d}"},
                    {"persons": {"resident_id": p.id}},
                    False,
                )
                p.alive = False

    def run(self) -> list[Emitted]:
        self.build()
        self.civil()
        self.cases()
        self.out.sort(key=lambda e: (e.time, e.event["id"]))
        if self.cfg.late:
            self.publish_order()
        return self.out


def simulate(cfg: SimConfig) -> list[Emitted]:
    return Simulator(cfg).run()


def write_jsonl(
    emitted: list[Emitted],
    events_path: str,
    truth_path: str,
    advance: Callable[[int], None] | None = None,
) -> None:
    """The events and their ground truth, line for line; ``advance(n)`` every 10,000."""
    with open(events_path, "wb") as ev, open(truth_path, "wb") as tr:
        for i, e in enumerate(emitted, 1):
            ev.write(orjson.dumps(e.event) + b"\n")
            tr.write(orjson.dumps(e.truth) + b"\n")
            if advance and (i % 10_000 == 0 or i == len(emitted)):
                advance(10_000 if i % 10_000 == 0 else i % 10_000)
