"""What coordination needs to know of a thread, projected as it arrives: a ``clock`` mark
per event that moves a clock (reported, each stage done, returned, extended, reopened,
mediation assigned or concluded, referred), and the four coordination types on the
thread's fields (a return sends the case back, an extension moves ``due_at``, a
dissatisfied follow-up reopens the case; the clock counts it only once the case was closed,
which a handler cannot know when events arrive out of order).

Marks are set members keyed by the event id, so they merge in any order; the clock
(:mod:`projections.coordination.clock`) is computed from them when asked, with the rules
in force. These handlers sit beside those of :mod:`projections.case_thread` (the registry
runs every handler of a type)."""

from __future__ import annotations

from typing import Any

from projections.case_thread import CITY_CASE, COURT_CASE, POLICE_INCIDENT, _cites
from projections.changes import Changes
from projections.registry import handles, summarizes
from projections.resolve import Resolver
from schemas.envelope import Envelope

MARK = "clock"


def mark(env: Envelope, ch: Changes, cid: str, kind: str, **attrs: Any) -> None:
    ch.add_member(env, "case", cid, MARK, f"{kind}/{env.id}", {"kind": kind, **attrs})


def _city(env: Envelope, r: Resolver) -> str:
    return r.case(env, *CITY_CASE, env.data["case_id"])


@handles("city.case.reported")
def reported(env: Envelope, r: Resolver, ch: Changes) -> None:
    mark(env, ch, _city(env, r), "report", agency="city", category=env.data["category"])


@handles("police.incident.reported")
def incident(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *POLICE_INCIDENT, env.data["incident_id"])
    mark(
        env,
        ch,
        cid,
        "report",
        agency="police",
        category=env.data["category"],
        incident_id=env.data["incident_id"],
    )


@handles("police.incident.referred")
def referred(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *POLICE_INCIDENT, env.data["incident_id"])
    mark(env, ch, cid, "referred", to_agency=env.data["to_agency"])


_DONE = {
    "city.case.registered": "register",
    "city.case.dispatched": "dispatch",
    "city.case.handled": "handle",
    "city.case.closed": "close",
}


@handles(*_DONE)
def stage_done(env: Envelope, r: Resolver, ch: Changes) -> None:
    mark(env, ch, _city(env, r), "done", stage=_DONE[env.type])


@handles("city.case.verified")
def verified(env: Envelope, r: Resolver, ch: Changes) -> None:
    if env.data["passed"]:
        mark(env, ch, _city(env, r), "done", stage="verify")
    else:  # failed verification: back to the department (GB/T 30428 rework)
        mark(env, ch, _city(env, r), "reopen", why="verification")


@handles("city.case.returned")
def returned(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = _city(env, r)
    mark(env, ch, cid, "return", by_department=env.data["by_department"])
    ch.set_field(env, "case", cid, "stage", "returned")
    ch.set_field(env, "case", cid, "status", "open")


@handles("city.case.extended")
def extended(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = _city(env, r)
    mark(env, ch, cid, "extend", due_at=env.data["due_at"])
    ch.set_field(env, "case", cid, "due_at", env.data["due_at"])


@handles("city.feedback.recorded")
def feedback(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = _city(env, r)
    if env.data["satisfied"]:
        mark(env, ch, cid, "satisfied")
        return
    # Not satisfied: a closed case is reopened and handled again, as rework (the clock counts
    # it only after a close: a follow-up before one changes nothing in the clock).
    mark(env, ch, cid, "reopen", why="feedback")
    ch.set_field(env, "case", cid, "stage", "reopened")
    ch.set_field(env, "case", cid, "status", "open")


@handles("court.mediation.assigned")
def mediation(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    cid = r.case(env, *COURT_CASE, d["case_id"])
    mark(env, ch, cid, "mediate", due_at=d["due_at"], mediator=d["mediator"])
    ch.set_field(env, "case", cid, "stage", "court-mediation")
    ch.set_field(env, "case", cid, "status", "open")
    ch.set_field(env, "case", cid, "due_at", d["due_at"])
    _cites(env, ch, cid, d.get("refs"))


@handles("court.mediation.concluded")
def mediated(env: Envelope, r: Resolver, ch: Changes) -> None:
    mark(env, ch, r.case(env, *COURT_CASE, env.data["case_id"]), "mediated")


@summarizes("city.case.returned")
def _returned(env: Envelope) -> str:
    d = env.data
    return f"city case {d.get('case_id', '?')} returned by {d.get('by_department', '?')}"


@summarizes("city.case.extended")
def _extended(env: Envelope) -> str:
    d = env.data
    return f"city case {d.get('case_id', '?')} extended to {d.get('due_at', '?')}"


@summarizes("city.feedback.recorded")
def _feedback(env: Envelope) -> str:
    verdict = "satisfied" if env.data.get("satisfied") else "not satisfied (reopens a closed case)"
    return f"follow-up on city case {env.data.get('case_id', '?')}: {verdict}"


@summarizes("court.mediation.assigned")
def _assigned(env: Envelope) -> str:
    d = env.data
    return f"court case {d.get('case_id', '?')} handed to mediation, due {d.get('due_at', '?')}"


# -- the hub's own notices (hub.coordination): in the timeline of the thread they name ----
NOTICE_TYPES = (
    "hub.case.warned",
    "hub.case.urged",
    "hub.case.supervised",
    "hub.case.raised",
    "hub.case.bounced",
    "hub.referral.routed",
)


@handles(*NOTICE_TYPES)
def notice(env: Envelope, r: Resolver, ch: Changes) -> None:
    """The subject is the thread's id, itself a case node: the notice joins its timeline."""
    ch.touch(env, "case", env.subject)


def _notice(env: Envelope) -> str:
    d = env.data
    what = {
        "hub.case.warned": f"{d.get('level')} warning: {d.get('stage')} due {d.get('due_at')}",
        "hub.case.urged": f"{d.get('to_agency')} urged: {d.get('stage')} due {d.get('due_at')}",
        "hub.case.supervised": f"supervised by the command center: {d.get('stage')} overdue",
        "hub.case.raised": f"raised from {d.get('from_level')} to {d.get('to_level')}",
        "hub.case.bounced": f"bounced: returned {d.get('returns')} times",
        "hub.referral.routed": f"diverted to {d.get('to_agency')}",
    }.get(env.type, env.type)
    return f"hub: case {d.get('case_id', '?')} {what}"


for _t in NOTICE_TYPES:
    summarizes(_t)(_notice)
