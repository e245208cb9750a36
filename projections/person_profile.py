"""Person profile: what each agency record says of a person, with each field's provenance
(the hub person is the component of records joined by identity numbers and decisions).

Answers "who is this, where do they live, which cases involve them, who said so".
"""

from __future__ import annotations

from projections.changes import Changes
from projections.registry import handles, summarizes
from projections.resolve import Resolver
from schemas.envelope import Envelope


def _move_in(env: Envelope, r: Resolver, ch: Changes, rec: str, address: dict) -> None:
    plid = r.place(env, address)
    ch.add_member(env, "record", rec, "address", plid, {"text": address.get("text")})
    ch.set_field(env, "record", rec, "current_place", plid)
    ch.add_member(env, "place", plid, "resident", rec)
    ch.mention_place(env, rec, plid)


@handles("civil.resident.registered")
def resident_registered(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    rec = r.person(env, d["person"], "civil", "resident", d["resident_id"])
    ch.set_field(env, "record", rec, "status", "registered")
    ch.set_field(env, "record", rec, "household_id", d["household_id"])
    _move_in(env, r, ch, rec, d["address"])


@handles("civil.resident.moved")
def resident_moved(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    rec = r.person_of_record(env, "civil", "resident", d["resident_id"])
    _move_in(env, r, ch, rec, d["address"])


@handles("civil.resident.deceased")
def resident_deceased(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    rec = r.person_of_record(env, "civil", "resident", d["resident_id"])
    ch.set_field(env, "record", rec, "status", "deceased")
    ch.set_field(env, "record", rec, "died_on", d["died_on"])


@handles("civil.assistance.granted")
def assistance_granted(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    rec = r.person_of_record(env, "civil", "resident", d["resident_id"])
    ch.add_member(
        env,
        "record",
        rec,
        "assistance",
        f"{d['program']}:{d['from']}",
        {k: d.get(k) for k in ("program", "monthly_amount", "from", "to")},
    )


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
