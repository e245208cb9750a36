"""Person profile: one hub person per real person, with each field's provenance.

Answers "who is this, where do they live, which cases involve them, who said so".
"""

from __future__ import annotations

from projections.changes import Changes
from projections.registry import handles, summarizes
from projections.resolve import Resolver
from schemas.envelope import Envelope


def _move_in(env: Envelope, r: Resolver, ch: Changes, pid: str, address: dict) -> None:
    plid = r.place(env, address)
    ch.add_member(env, "person", pid, "address", plid, {"text": address.get("text")})
    ch.set_field(env, "person", pid, "current_place", plid)
    ch.add_member(env, "place", plid, "resident", pid)


@handles("civil.resident.registered")
def resident_registered(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    pid = r.person(env, d["person"], "civil", "resident", d["resident_id"])
    ch.set_field(env, "person", pid, "status", "registered")
    ch.set_field(env, "person", pid, "household_id", d["household_id"])
    _move_in(env, r, ch, pid, d["address"])


@handles("civil.resident.moved")
def resident_moved(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    pid = r.person_of_record(env, "civil", "resident", d["resident_id"])
    _move_in(env, r, ch, pid, d["address"])


@handles("civil.resident.deceased")
def resident_deceased(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    pid = r.person_of_record(env, "civil", "resident", d["resident_id"])
    ch.set_field(env, "person", pid, "status", "deceased")
    ch.set_field(env, "person", pid, "died_on", d["died_on"])


@handles("civil.assistance.granted")
def assistance_granted(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    pid = r.person_of_record(env, "civil", "resident", d["resident_id"])
    ch.add_member(env, "person", pid, "assistance", f"{d['program']}:{d['from']}",
                  {k: d.get(k) for k in ("program", "monthly_amount", "from", "to")})


@summarizes("civil.resident.registered")
def _s_registered(env: Envelope) -> str:
    return f"civil affairs registered resident {env.data['resident_id']}"


@summarizes("civil.resident.moved")
def _s_moved(env: Envelope) -> str:
    return f"resident {env.data['resident_id']} moved on {env.data['moved_on']}"


@summarizes("civil.resident.deceased")
def _s_deceased(env: Envelope) -> str:
    return f"resident {env.data['resident_id']} died on {env.data['died_on']}"


@summarizes("civil.assistance.granted")
def _s_assistance(env: Envelope) -> str:
    return f"assistance granted to resident {env.data['resident_id']}"
