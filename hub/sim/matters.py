"""The matters of the simulated city: city cases walking the GB/T 30428 stages (some late,
a few sent back after a failed verification), 110 incidents (neighbour disputes referred to
the grid), police cases citing city cases, court cases citing both (mediated, heard,
judged, some sealed). A part of :class:`hub.sim.city.Simulator`."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from hub.geo import point_in_grid
from hub.sim.justice import Justice
from hub.sim.world import Person, Place

CITY_CATEGORIES = {  # category → (time limit in hours, share)
    "garbage": (24, 0.2),
    "illegal-parking": (8, 0.15),
    "road-damage": (72, 0.1),
    "noise": (24, 0.15),
    "neighbour-dispute": (48, 0.15),
    "illegal-construction": (120, 0.1),
    "street-vendor": (4, 0.1),
    "greening": (96, 0.05),
}
INCIDENT_CATEGORIES = ("dispute", "theft", "traffic", "noise", "fraud", "assault")
# A 110 call the police do not refer, of a category the transfer rules divert to the city
# (国办发〔2022〕12号) → the city category its case takes. A city case of that category at
# the caller's own address, reported from 30 min before to 2 h after the call, is the same
# matter (the grid member was there first, or the citizen called again: 重复件), however
# independently the city drew it.
REPEAT_OF = {"dispute": "neighbour-dispute", "noise": "noise"}
REPEAT_BEFORE, REPEAT_AFTER = timedelta(minutes=30), timedelta(hours=2)


def located(place: Place) -> dict[str, float]:
    """The place's coordinates, as a grid member's app records them."""
    point = point_in_grid(place.grid, place.road, place.number, place.building)
    return {"lon": point[0], "lat": point[1]} if point else {}


class Matters(Justice):
    """Cases and incidents; the simulator supplies the world and the helpers (declared on
    :class:`~hub.sim.justice.Justice`)."""

    def city_case(
        self,
        n: int,
        place: Place,
        t: datetime,
        parties: list[Person],
        category: str,
        channel: str,
        matter: str,
        reporter: Person | None = None,
        escalate: bool = False,
    ) -> str:
        rng = self.rng
        case_id = f"C{t:%Y}{n:07d}"
        noisy = self._noisy()
        data: dict[str, Any] = {
            "case_id": case_id,
            "category": category,
            "description": f"{category} 网格上报",
            "channel": channel,
            # a grid member's report carries where it was made (the app's GPS)
            "address": {**self._address(place, noisy), **located(place)},
        }
        truth: dict[str, Any] = {"matter": matter, "persons": {}, "places": {"address": place.id}}
        if reporter is not None:
            data["reporter"] = self._mention(reporter, noisy, full=False)
            truth["persons"]["reporter"] = reporter.id
        if parties:
            data["persons"] = [
                {"role": "party", "person": self._mention(p, noisy, full=False)} for p in parties
            ]
            for i, p in enumerate(parties):
                truth["persons"][f"persons[{i}].person"] = p.id
        self._emit("city", "city.case.reported", t, case_id, data, truth, noisy)
        limit = CITY_CATEGORIES[category][0]
        step = {"matter": matter}
        t1 = t + timedelta(minutes=rng.randrange(5, 90))
        if t1 > self.cfg.start + timedelta(days=self.cfg.days):
            return case_id
        self._emit(
            "city",
            "city.case.registered",
            t1,
            case_id,
            {
                "case_id": case_id,
                "level": rng.choice(("grid", "community", "street")),
                "due_at": (t1 + timedelta(hours=limit)).isoformat(),
            },
            step,
            False,
        )
        if escalate:
            self._emit(
                "city",
                "city.case.escalated",
                t1 + timedelta(hours=2),
                case_id,
                {"case_id": case_id, "to_agency": "police", "reason": "矛盾升级，需要公安介入"},
                step,
                False,
            )
        t2 = t1 + timedelta(minutes=rng.randrange(10, 240))
        due = t2 + timedelta(hours=limit)
        self._emit(
            "city",
            "city.case.dispatched",
            t2,
            case_id,
            {
                "case_id": case_id,
                "department": rng.choice(("城管执法队", "街道办", "物业", "环卫所")),
                "due_at": due.isoformat(),
            },
            step,
            False,
        )
        # Coordination flows on a random stream of their own (the rest of the city draws
        # what it drew before): departments sending the case back, approved extensions.
        co = random.Random(f"{self.cfg.seed}/{case_id}/coordination")
        if co.random() < 0.08:
            for i in range(co.choice((1, 1, 2, 3))):
                self._emit(
                    "city",
                    "city.case.returned",
                    t2 + timedelta(minutes=20 * (i + 1)),
                    case_id,
                    {"case_id": case_id, "by_department": "物业", "reason": "不属于本单位职责"},
                    step,
                    False,
                )
        if co.random() < 0.05:
            due = due + timedelta(days=2)
            self._emit(
                "city",
                "city.case.extended",
                t2 + timedelta(hours=1),
                case_id,
                {
                    "case_id": case_id,
                    "due_at": due.isoformat(),
                    "reason": "需协调产权单位",
                    "approved_by": "区城市运行管理指挥中心",
                },
                step,
                False,
            )
        late = rng.random() < 0.15
        # In the last four days of the timeline, most cases are still being handled
        # (nothing reported back yet); older ones were all handled, some late.
        recent = t2 > self.cfg.start + timedelta(days=self.cfg.days - 4)
        if recent and rng.random() < 0.6:
            return case_id
        t3 = (
            due + timedelta(hours=rng.uniform(1, 72))
            if late
            else t2 + (due - t2) * rng.uniform(0.1, 0.95)
        )
        self._emit(
            "city",
            "city.case.handled",
            t3,
            case_id,
            {"case_id": case_id, "result": "已现场处置"},
            step,
            False,
        )
        t4 = t3 + timedelta(hours=rng.uniform(1, 12))
        if rng.random() < 0.1:  # failed verification: handled again
            self._emit(
                "city",
                "city.case.verified",
                t4,
                case_id,
                {"case_id": case_id, "passed": False},
                step,
                False,
            )
            t4 += timedelta(hours=rng.uniform(4, 48))
            self._emit(
                "city",
                "city.case.handled",
                t4 - timedelta(hours=1),
                case_id,
                {"case_id": case_id, "result": "返工后处置完毕"},
                step,
                False,
            )
        self._emit(
            "city",
            "city.case.verified",
            t4,
            case_id,
            {"case_id": case_id, "passed": True},
            step,
            False,
        )
        self._emit(
            "city",
            "city.case.closed",
            t4 + timedelta(hours=rng.uniform(0.5, 6)),
            case_id,
            {"case_id": case_id, "outcome": "办结"},
            step,
            False,
        )
        if co.random() < 0.6:  # the follow-up call (回访); one in ten not satisfied
            self._emit(
                "city",
                "city.feedback.recorded",
                t4 + timedelta(days=1),
                case_id,
                {"case_id": case_id, "satisfied": co.random() >= 0.1, "channel": "phone"},
                step,
                False,
            )
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
                case_id = self.city_case(
                    n,
                    who.place,
                    t,
                    [who, neighbour],
                    category,
                    "grid-member",
                    matter,
                    escalate=escalate,
                )
                if escalate:
                    disputes.append((matter, case_id, who.place, [who, neighbour], t))
            else:
                channel = rng.choice(("grid-member", "hotline", "video", "citizen"))
                reporter = who if channel in ("hotline", "citizen") else None
                self.city_case(n, who.place, t, [], category, channel, matter, reporter)
        # Escalated disputes: police open a case citing the city case; some go to court.
        for k, (matter, city_case, place, parties, t) in enumerate(disputes):
            pcase = self.police_case(
                k,
                place,
                t + timedelta(hours=3),
                parties,
                matter,
                refs=[{"agency": "city", "kind": "case", "id": city_case}],
            )
            if rng.random() < 0.5:
                self.court(
                    k,
                    t + timedelta(days=rng.uniform(5, 30)),
                    parties,
                    matter,
                    [
                        {"agency": "police", "kind": "case", "id": pcase},
                        {"agency": "city", "kind": "case", "id": city_case},
                    ],
                )
        # 110 calls.
        # the diverted calls the police kept (no referral), as hub.sim.city.Emitted
        unreferred: list[Any] = []
        for k in range(1, n_incidents + 1):
            caller = rng.choice(res)
            assert caller.place is not None
            t = self._when(20)
            matter = self._matter()
            category = rng.choice(INCIDENT_CATEGORIES)
            inc = f"J{t:%Y%m%d}{k:06d}"
            noisy = self._noisy()
            self._emit(
                "police",
                "police.incident.reported",
                t,
                inc,
                {
                    "incident_id": inc,
                    "category": category,
                    "summary": f"110报警：{category}",
                    "address": self._address(caller.place, noisy),
                    "caller": self._mention(caller, noisy, full=False),
                },
                {
                    "matter": matter,
                    "persons": {"caller": caller.id},
                    "places": {"address": caller.place.id},
                },
                noisy,
            )
            call = self.out[-1]
            if category == "dispute" and rng.random() < 0.6:
                # A neighbour dispute referred to grid mediation (分流): the city registers it.
                self._emit(
                    "police",
                    "police.incident.referred",
                    t + timedelta(minutes=30),
                    inc,
                    {"incident_id": inc, "to_agency": "city", "reason": "邻里纠纷，转网格调解"},
                    {"matter": matter},
                    False,
                )
                other = rng.choice(res)
                self.city_case(
                    n_city + k,
                    caller.place,
                    t + timedelta(hours=1),
                    [caller, other],
                    "neighbour-dispute",
                    "hotline",
                    matter,
                )
            elif category in ("theft", "fraud", "assault") and rng.random() < 0.5:
                victim = caller
                suspect = rng.choice(self.city.visitors + res)
                pcase = self.police_case(
                    n_incidents + k,
                    caller.place,
                    t + timedelta(hours=2),
                    [victim, suspect],
                    matter,
                    incident=inc,
                )
                if rng.random() < 0.3:
                    self.court(
                        n_incidents + k,
                        t + timedelta(days=rng.uniform(10, 60)),
                        [victim, suspect],
                        matter,
                        [{"agency": "police", "kind": "case", "id": pcase}],
                        criminal=True,
                    )
            else:
                unreferred.append(call)
        self._repeats(unreferred)

    def _repeats(self, calls: list[Any]) -> None:
        """Each diverted call the police kept takes the matter of the city case at its
        address it repeats (``REPEAT_OF``), the nearest in time if there are two."""
        reported: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
        for e in self.out:
            if e.event["type"] == "city.case.reported":
                key = (e.truth["places"]["address"], e.event["data"]["category"])
                reported.setdefault(key, []).append((e.time, e.truth["matter"]))
        for call in calls:
            category = REPEAT_OF.get(call.event["data"]["category"])
            near = [
                (abs(tc - call.time), m)
                for tc, m in reported.get((call.truth["places"]["address"], category or ""), [])
                if call.time - REPEAT_BEFORE <= tc <= call.time + REPEAT_AFTER
            ]
            if near:
                call.truth["matter"] = min(near)[1]
