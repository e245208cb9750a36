"""Person resolution decisions: is this record the same person as that one?

A valid identity number needs no decision (it is a fact of the event, an edge of its own).
Records without one are compared with candidates found by blocking keys (name + birth date,
phone, birth date + place, name + place), scored on the evidence, and either linked, kept
as a candidate for a person in the command center to confirm or reject, or left alone.

Every decision is an event (``hub.person.linked`` / ``hub.person.candidate``, and
``hub.person.unlinked`` / ``hub.person.rejected`` from people) on the hub's resolution topic,
with who decided, the score and the evidence; the read model applies decisions only as it
reads them from the log, so a rebuild replays them instead of deciding again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

DECIDER = "resolver/v1"
LINK_AT = 0.7
CANDIDATE_AT = 0.45
WEIGHTS = {"name": 0.4, "name_close": 0.25, "birth_date": 0.3, "phone": 0.35, "place": 0.15,
           "national_id_close": 0.45}


@dataclass(frozen=True, slots=True)
class Mention:
    record: str
    name: str | None
    national_id: str | None
    nid_valid: bool
    birth_date: str | None
    phone: str | None
    place_id: str | None


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
            "specversion": "1.0", "id": self.id, "source": "/hub/resolution",
            "type": f"hub.{self.graph}.{PAST[self.action]}",
            "time": self.time.isoformat(), "subject": self.a, "agency": "hub",
            "data": {"action": self.action, "a": self.a, "b": self.b,
                     "score": round(self.score, 4), "evidence": self.evidence,
                     "decided_by": self.decided_by, "graph": self.graph}
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
    return Decision(d["action"], d["a"], d["b"], float(d.get("score") or 0), d["evidence"],
                    d["decided_by"], datetime.fromisoformat(doc["time"]), graph,
                    int(d.get("seq") or 0))


def _close(a: str, b: str) -> bool:
    """Same length, one character different: a typo of the kind agencies make."""
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1


def score(p: Mention, c: Mention) -> tuple[float, dict[str, Any]]:
    ev: dict[str, Any] = {}
    if p.name and c.name:
        if p.name == c.name:
            ev["name"] = p.name
        elif _close(p.name, c.name):
            ev["name_close"] = [p.name, c.name]
    if p.birth_date and p.birth_date == c.birth_date:
        ev["birth_date"] = p.birth_date
    if p.phone and p.phone == c.phone:
        ev["phone"] = p.phone
    if p.place_id and p.place_id == c.place_id:
        ev["place"] = p.place_id
    nids = [n for n in (p.national_id, c.national_id) if n]
    if len(nids) == 2 and len(nids[0]) == len(nids[1]) and nids[0] != nids[1]:
        diff = sum(x != y for x, y in zip(nids[0], nids[1], strict=True))
        if diff <= 2 and not (p.nid_valid and c.nid_valid):
            ev["national_id_close"] = nids
    return sum(WEIGHTS[k] for k in ev), ev


def decide(probe: Mention, candidates: list[Mention], component_of: dict[str, str],
           time: datetime) -> list[Decision]:
    """Decisions for one new mention. ``component_of`` maps each record to its current
    component (its canonical node): records already joined need no decision, and a best
    match spread over two different people is only a candidate."""
    if probe.nid_valid and all(c.nid_valid for c in candidates):
        return []
    scored = []
    for c in candidates:
        if c.record == probe.record or component_of.get(c.record) == component_of.get(
                probe.record, probe.record):
            continue
        if probe.nid_valid and c.nid_valid:
            continue  # two valid, different numbers: two people
        s, ev = score(probe, c)
        if s >= CANDIDATE_AT:
            scored.append((s, c.record, ev))
    if not scored:
        return []
    scored.sort(key=lambda x: (-x[0], x[1]))
    best = scored[0][0]
    top_people = {component_of.get(r, r) for s, r, _ in scored if s >= best - 1e-9}
    out = []
    for s, rec, ev in scored[:5]:
        action = "link" if s >= LINK_AT and len(top_people) == 1 and s >= best - 1e-9 \
            else "candidate"
        out.append(Decision(action, probe.record, rec, s, ev, DECIDER, time))
    return out


REFERRAL_WINDOW_HOURS = 72


def decide_referral(city_case: str, incident: str, same_place: str, hours: float,
                    shared_person: str | None, time: datetime) -> Decision | None:
    """A 110 call referred to the city, and a city case opened at the same place soon after:
    one matter (分流). Shared parties make it certain; place and timing alone, likely."""
    evidence: dict[str, Any] = {"referred_to": "city", "place": same_place,
                                "hours_after_referral": round(hours, 2)}
    s = 0.5 + 0.3  # the referral and the same standard address
    if shared_person:
        evidence["shared_person"] = shared_person
        s += 0.3
    if not 0 <= hours <= REFERRAL_WINDOW_HOURS:
        return None
    action = "link" if s >= 0.8 else "candidate"
    return Decision(action, city_case, incident, min(s, 1.0), evidence, DECIDER, time, "case")
