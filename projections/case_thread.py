"""Case thread: one thread per matter, with its agency refs, stage, due time, persons,
places and (through the event archive) a timeline of every event.

Stage and status are last-writer-wins by event time, so they follow the matter as the
agencies tell it, whatever order the partitions deliver in. Overdue is not stored: it is
``due_at`` compared with the time the question is asked.
"""

from __future__ import annotations

from typing import Any

from projections.address import parse as parse_address
from projections.changes import Changes
from projections.ids import hub_id, ref_key
from projections.registry import handles, summarizes
from projections.resolve import Resolver
from schemas.envelope import Envelope

# kind of record each agency's case-like ids name
CITY_CASE = ("city", "case")
POLICE_CASE = ("police", "case")
POLICE_INCIDENT = ("police", "incident")
COURT_CASE = ("court", "case")


def _stage(env: Envelope, ch: Changes, cid: str, stage: str, status: str | None = None) -> None:
    ch.set_field(env, "case", cid, "stage", stage)
    if status:
        ch.set_field(env, "case", cid, "status", status)


def _party(
    env: Envelope,
    r: Resolver,
    ch: Changes,
    cid: str,
    record: tuple[str, str, str],
    role: str,
    person: dict[str, Any],
    index: str,
    at: str | None = None,
) -> str:
    agency, kind, rid = record
    rec = r.person(env, person, agency, f"{kind}-party", f"{rid}/{index}", case=cid, at=at)
    ch.add_member(
        env, "case", cid, "person", f"{rec}/{role}", {"record": rec, "role": role, "agency": agency}
    )
    ch.add_member(
        env,
        "record",
        rec,
        "case",
        f"{cid}/{role}",
        {"case_id": cid, "role": role, "agency": agency},
    )
    return rec


def _place(env: Envelope, r: Resolver, ch: Changes, cid: str, address: dict[str, Any]) -> str:
    plid = r.place(env, address)
    ch.add_member(env, "case", cid, "place", plid, {"text": address.get("text")})
    ch.add_member(env, "place", plid, "case", cid)
    if address.get("grid"):
        ch.set_field(env, "case", cid, "grid", address["grid"])
        ch.touch(env, "grid", address["grid"])
        # the room within its grid, however much of the address was written (a grid
        # member's "2号楼1单元601室"): what a referral's city case is looked up by
        std = parse_address(str(address.get("text", "")), address["grid"])
        if None not in (std.building, std.unit, std.room):
            room = f"{address['grid']}|{std.building}|{std.unit}|{std.room}"
            ch.add_member(env, "case", cid, "room", room, {"partial": std.road is None})
    return plid


def _cites(env: Envelope, ch: Changes, cid: str, refs: list[dict[str, str]] | None) -> None:
    for ref in refs or []:
        key = ref_key(ref["agency"], ref["kind"], ref["id"])
        ch.add_member(env, "case", cid, "cites", key, dict(ref))
        ch.case_edge(env, cid, hub_id("C", key))  # the same matter: one thread


# -- city (GB/T 30428 stages) ------------------------------------------------------------
@handles("city.case.reported")
def city_reported(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    rec = (*CITY_CASE, d["case_id"])
    cid = r.case(env, *rec)
    ch.set_field(env, "case", cid, "category", d["category"])
    ch.set_field(env, "case", cid, "channel", d["channel"])
    ch.set_field(env, "case", cid, "urgency", d["urgency"])  # v1 reads as "normal"
    _stage(env, ch, cid, "reported", "open")
    at = _place(env, r, ch, cid, d["address"])
    if d.get("reporter"):
        _party(env, r, ch, cid, rec, "reporter", d["reporter"], "reporter", at)
    for i, p in enumerate(d.get("persons") or []):
        _party(env, r, ch, cid, rec, p["role"], p["person"], str(i), at)


@handles("city.case.registered")
def city_registered(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *CITY_CASE, env.data["case_id"])
    _stage(env, ch, cid, "registered", "open")
    ch.set_field(env, "case", cid, "due_at", env.data["due_at"])
    if env.data.get("level"):
        ch.set_field(env, "case", cid, "level", env.data["level"])


@handles("city.case.dispatched")
def city_dispatched(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *CITY_CASE, env.data["case_id"])
    _stage(env, ch, cid, "dispatched", "open")
    ch.set_field(env, "case", cid, "due_at", env.data["due_at"])
    ch.set_field(env, "case", cid, "department", env.data["department"])


@handles("city.case.handled")
def city_handled(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *CITY_CASE, env.data["case_id"])
    _stage(env, ch, cid, "handled", "open")


@handles("city.case.verified")
def city_verified(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *CITY_CASE, env.data["case_id"])
    # A failed check sends the case back to the department (GB/T 30428 rework).
    _stage(env, ch, cid, "verified" if env.data["passed"] else "rework", "open")


@handles("city.case.closed")
def city_closed(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *CITY_CASE, env.data["case_id"])
    _stage(env, ch, cid, "closed", "closed")


@handles("city.case.escalated")
def city_escalated(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *CITY_CASE, env.data["case_id"])
    ch.add_member(
        env,
        "case",
        cid,
        "escalation",
        env.data["to_agency"],
        {"to_agency": env.data["to_agency"], "from_agency": "city"},
    )


# -- police -------------------------------------------------------------------------------
@handles("police.incident.reported")
def incident_reported(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    rec = (*POLICE_INCIDENT, d["incident_id"])
    cid = r.case(env, *rec)
    ch.set_field(env, "case", cid, "category", d["category"])
    _stage(env, ch, cid, "incident-reported", "open")
    at = _place(env, r, ch, cid, d["address"])
    if d.get("caller"):
        _party(env, r, ch, cid, rec, "caller", d["caller"], "caller", at)


@handles("police.incident.referred")
def incident_referred(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *POLICE_INCIDENT, env.data["incident_id"])
    ch.add_member(
        env,
        "case",
        cid,
        "escalation",
        env.data["to_agency"],
        {"to_agency": env.data["to_agency"], "from_agency": "police"},
    )
    _stage(env, ch, cid, "referred")


@handles("police.case.opened")
def police_opened(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    cid = r.case(env, *POLICE_CASE, d["case_id"])
    ch.set_field(env, "case", cid, "offence", d["offence"])
    _stage(env, ch, cid, "police-investigating", "open")
    if d.get("address"):
        _place(env, r, ch, cid, d["address"])
    refs = list(d.get("refs") or [])
    if d.get("incident_id"):
        refs.append({"agency": "police", "kind": "incident", "id": d["incident_id"]})
    _cites(env, ch, cid, refs)


@handles("police.person.involved")
def police_person(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    rec = (*POLICE_CASE, d["case_id"]) if d.get("case_id") else (*POLICE_INCIDENT, d["incident_id"])
    cid = r.case(env, *rec)
    _party(env, r, ch, cid, rec, d["role"], d["person"], f"{d['role']}/{env.id}")


@handles("police.case.closed")
def police_closed(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *POLICE_CASE, env.data["case_id"])
    _stage(env, ch, cid, "police-closed", "closed")


# -- court --------------------------------------------------------------------------------
@handles("court.case.filed")
def court_filed(env: Envelope, r: Resolver, ch: Changes) -> None:
    d = env.data
    rec = (*COURT_CASE, d["case_id"])
    cid = r.case(env, *rec)
    ch.set_field(env, "case", cid, "case_type", d["case_type"])
    ch.set_field(env, "case", cid, "cause", d["cause"])
    _stage(env, ch, cid, "court-filed", "open")
    for i, p in enumerate(d["parties"]):
        _party(env, r, ch, cid, rec, p["role"], p["person"], str(i))
    _cites(env, ch, cid, d.get("refs"))


@handles("court.mediation.concluded")
def court_mediation(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *COURT_CASE, env.data["case_id"])
    if env.data["settled"]:
        _stage(env, ch, cid, "court-settled", "closed")
    else:
        _stage(env, ch, cid, "court-mediation-failed", "open")


@handles("court.hearing.scheduled")
def court_hearing(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *COURT_CASE, env.data["case_id"])
    _stage(env, ch, cid, "court-hearing-scheduled", "open")
    ch.set_field(env, "case", cid, "hearing_at", env.data["at"])


@handles("court.judgment.issued")
def court_judgment(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *COURT_CASE, env.data["case_id"])
    _stage(env, ch, cid, "court-judged", "closed")


@handles("court.case.sealed")
def court_sealed(env: Envelope, r: Resolver, ch: Changes) -> None:
    cid = r.case(env, *COURT_CASE, env.data["case_id"])
    ch.set_field(env, "case", cid, "sealed", True)


# -- timeline summaries (no sensitive content: the timeline is read across agencies) ---------
_SUMMARY = {
    "city.case.reported": "city case {case_id} reported ({category}, via {channel})",
    "city.case.registered": "city case {case_id} registered, due {due_at}",
    "city.case.dispatched": "city case {case_id} dispatched to {department}, due {due_at}",
    "city.case.handled": "city case {case_id} handled",
    "city.case.closed": "city case {case_id} closed",
    "city.case.escalated": "city case {case_id} escalated to {to_agency}",
    "police.incident.reported": "police incident {incident_id} reported ({category})",
    "police.incident.referred": "police incident {incident_id} referred to {to_agency}",
    "police.case.opened": "police case {case_id} opened",
    "police.person.involved": "a person was recorded in a police matter",
    "police.case.closed": "police case {case_id} closed",
    "court.case.filed": "court case {case_id} filed ({case_type})",
    "court.hearing.scheduled": "court hearing in case {case_id} scheduled for {at}",
    "court.judgment.issued": "court judgment issued in case {case_id}",
    "court.case.sealed": "court case {case_id} sealed",
}


def _summarizer(template: str):  # type: ignore[no-untyped-def]
    def summarize(env: Envelope) -> str:
        return template.format_map({k: env.data.get(k, "?") for k in _KEYS})

    return summarize


_KEYS = (
    "case_id",
    "incident_id",
    "category",
    "channel",
    "due_at",
    "department",
    "to_agency",
    "case_type",
    "at",
)

for _t, _tpl in _SUMMARY.items():
    summarizes(_t)(_summarizer(_tpl))


@summarizes("city.case.verified")
def _verified(env: Envelope) -> str:
    verdict = "passed" if env.data.get("passed") else "failed: sent back for rework"
    return f"city case {env.data.get('case_id', '?')} verification {verdict}"


@summarizes("court.mediation.concluded")
def _mediated(env: Envelope) -> str:
    verdict = "settled" if env.data.get("settled") else "not settled"
    return f"court mediation in case {env.data.get('case_id', '?')} concluded: {verdict}"
