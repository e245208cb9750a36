"""Resolution decisions: the events that say which records are one person (``graph``
person) or one matter (``graph`` case), with who decided, the score and the evidence.

Persons are decided by :mod:`projections.person_match` (Fellegi–Sunter scores clustered by
region, :mod:`projections.matching`); referrals here. People decide too: a candidate
confirmed or rejected in the command center (``hub.person.linked`` / ``rejected`` by
``user:…``). Every decision is an event on the hub's resolution topic; the read model
applies decisions only as it reads them from the log, so a rebuild replays them instead of
deciding again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

DECIDER = "resolver/v1"  # referrals; persons are decided by projections.person_match
PAST = {"link": "linked", "candidate": "candidate", "unlink": "unlinked", "reject": "rejected"}


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # link | candidate | unlink | reject
    a: str
    b: str
    score: float
    evidence: dict[str, Any]
    decided_by: str
    time: datetime
    graph: str = "person"  # person: records are one person; case: records are one matter
    # How many decisions on this pair came before: a pair linked, unlinked and linked again
    # is three decisions, not one repeated.
    seq: int = 0

    @property
    def id(self) -> str:
        # Directional on purpose: the same pair decided from each side is two decisions, keyed
        # (and so ordered) by their own probe record. The same decision made again (a replay
        # after a crash) has the same id and the same key: the log's order says which counts.
        key = f"{self.graph}|{self.action}|{self.a}|{self.b}|{self.decided_by}"
        if self.seq:
            key += f"|{self.seq}"
        h = hashlib.blake2b(key.encode(), digest_size=10)
        return f"D-{h.hexdigest()}"

    def event(self) -> dict[str, Any]:
        """The decision as the CloudEvent the hub writes to its resolution topic."""
        return {
            "specversion": "1.0",
            "id": self.id,
            "source": "/hub/resolution",
            "type": f"hub.{self.graph}.{PAST[self.action]}",
            "time": self.time.isoformat(),
            "subject": self.a,
            "agency": "hub",
            "data": {
                "action": self.action,
                "a": self.a,
                "b": self.b,
                "score": round(self.score, 4),
                "evidence": self.evidence,
                "decided_by": self.decided_by,
                "graph": self.graph,
            }
            | ({"seq": self.seq} if self.seq else {}),
        }


def parse_decision(raw: bytes) -> Decision:
    doc = orjson.loads(raw)
    d = doc["data"]
    if d["action"] not in PAST:
        raise ValueError(f"unknown resolution action {d['action']!r}")
    graph = d.get("graph", "person")
    if graph not in ("person", "case"):
        raise ValueError(f"unknown resolution graph {graph!r}")
    return Decision(
        d["action"],
        d["a"],
        d["b"],
        float(d.get("score") or 0),
        d["evidence"],
        d["decided_by"],
        datetime.fromisoformat(doc["time"]),
        graph,
        int(d.get("seq") or 0),
    )


REFERRAL_WINDOW_HOURS = 72
SOON_HOURS = 24
REFERRAL_LINK_AT = 0.75


def decide_referral(
    city_case: str,
    incident: str,
    same_place: str,
    hours: float,
    shared_person: str | None,
    time: datetime,
) -> Decision | None:
    """A 110 call referred to the city, and a city case opened at the same standard address
    soon after: one matter (分流). A party in common makes it certain; the same address
    within a day, likely enough to join; the same address later in the window, a candidate
    for a person to confirm; outside the window, nothing."""
    if not 0 <= hours <= REFERRAL_WINDOW_HOURS:
        return None
    evidence: dict[str, Any] = {
        "referred_to": "city",
        "place": same_place,
        "hours_after_referral": round(hours, 2),
    }
    s = 0.6  # the referral and the same standard address
    if hours <= SOON_HOURS:
        s += 0.15
    if shared_person:
        evidence["shared_person"] = shared_person
        s += 0.3
    action = "link" if s >= REFERRAL_LINK_AT else "candidate"
    return Decision(action, city_case, incident, min(s, 1.0), evidence, DECIDER, time, "case")
