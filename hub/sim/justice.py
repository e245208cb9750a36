"""The police and the courts of the simulated city: police cases opened from incidents and
city cases, persons involved; court cases filed citing them, mediated, heard, judged, some
sealed. A part of :class:`hub.sim.city.Simulator`."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hub.sim.world import City, Person, Place


class Justice:
    """Police and court flows; the simulator supplies the world and the helpers."""

    rng: random.Random
    city: City
    matter_seq: int
    police_seq: int
    court_seq: int
    _emit: Callable[..., None]
    _mention: Callable[..., dict[str, Any]]
    _address: Callable[..., dict[str, Any]]
    _noisy: Callable[[], bool]
    _when: Callable[..., datetime]
    _matter: Callable[[], str]

    def police_case(
        self,
        k: int,
        place: Place,
        t: datetime,
        parties: list[Person],
        matter: str,
        refs: list[dict[str, str]] | None = None,
        incident: str | None = None,
    ) -> str:
        rng = self.rng
        self.police_seq += 1
        pcase = f"A{t:%Y}{self.police_seq:07d}"
        data: dict[str, Any] = {
            "case_id": pcase,
            "offence": rng.choice(("寻衅滋事", "盗窃", "诈骗", "故意伤害")),
            "address": self._address(place, False),
        }
        if refs:
            data["refs"] = refs
        if incident:
            data["incident_id"] = incident
        self._emit(
            "police",
            "police.case.opened",
            t,
            pcase,
            data,
            {"matter": matter, "places": {"address": place.id}},
            False,
        )
        for i, (p, role) in enumerate(zip(parties, ("victim", "suspect"), strict=False)):
            noisy = self._noisy()
            self._emit(
                "police",
                "police.person.involved",
                t + timedelta(hours=i + 1),
                pcase,
                {"case_id": pcase, "role": role, "person": self._mention(p, noisy)},
                {"matter": matter, "persons": {"person": p.id}},
                noisy,
            )
        if rng.random() < 0.7:
            self._emit(
                "police",
                "police.case.closed",
                t + timedelta(days=rng.uniform(3, 40)),
                pcase,
                {"case_id": pcase, "disposition": rng.choice(("调解结案", "移送起诉", "行政处罚"))},
                {"matter": matter},
                False,
            )
        return pcase

    def court(
        self,
        k: int,
        t: datetime,
        parties: list[Person],
        matter: str,
        refs: list[dict[str, str]],
        criminal: bool = False,
    ) -> None:
        rng = self.rng
        self.court_seq += 1
        kind = "刑初" if criminal else "民初"
        ccase = f"({t:%Y})京0105{kind}{self.court_seq}号"
        noisy = self._noisy()
        roles = ("victim", "defendant") if criminal else ("plaintiff", "defendant")
        self._emit(
            "court",
            "court.case.filed",
            t,
            ccase,
            {
                "case_id": ccase,
                "case_type": "criminal" if criminal else "civil",
                "cause": "相邻关系纠纷" if not criminal else "盗窃罪",
                "parties": [
                    {"role": r, "person": self._mention(p, noisy)}
                    for p, r in zip(parties, roles, strict=False)
                ],
                "refs": refs,
            },
            {
                "matter": matter,
                "persons": {f"parties[{i}].person": p.id for i, p in enumerate(parties)},
            },
            noisy,
        )
        t2 = t + timedelta(days=rng.uniform(5, 20))
        settled = not criminal and rng.random() < 0.6
        if not criminal:
            # Handed to mediation (诉前调解) the next day, due a month on; a separate random
            # stream, so the rest of the city is what it was before coordination came.
            self._emit(
                "court",
                "court.mediation.assigned",
                t + timedelta(days=1),
                ccase,
                {
                    "case_id": ccase,
                    "mediator": "望京街道人民调解委员会",
                    "due_at": (t + timedelta(days=31)).isoformat(),
                },
                {"matter": matter},
                False,
            )
            self._emit(
                "court",
                "court.mediation.concluded",
                t2,
                ccase,
                {"case_id": ccase, "settled": settled},
                {"matter": matter},
                False,
            )
        if not settled:
            at = t2 + timedelta(days=rng.uniform(10, 30))
            self._emit(
                "court",
                "court.hearing.scheduled",
                t2 + timedelta(days=1),
                ccase,
                {"case_id": ccase, "at": at.isoformat()},
                {"matter": matter},
                False,
            )
            self._emit(
                "court",
                "court.judgment.issued",
                at + timedelta(days=rng.uniform(1, 20)),
                ccase,
                {"case_id": ccase, "outcome": "判决"},
                {"matter": matter},
                False,
            )
        if rng.random() < 0.05:
            self._emit(
                "court",
                "court.case.sealed",
                t2 + timedelta(days=40),
                ccase,
                {"case_id": ccase, "reason": "涉及未成年人"},
                {"matter": matter},
                False,
            )
