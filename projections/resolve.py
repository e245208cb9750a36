"""Resolves agency records to hub persons, places and case threads, as far as the event
itself says: the handlers' side of resolution.

A valid identity number (GB 11643 checksum) is the key of a person; an invalid one is
kept and flagged, never used as a key. Every person mention is a record node; records are
joined into persons by identity numbers here, and by the resolver's decisions
(:mod:`projections.person_match`), which are events in the log.

Links already known are loaded for the batch before handlers run (``known``), so the
handlers stay pure.
"""

from __future__ import annotations

from typing import Any

from projections.address import parse as parse_address
from projections.changes import Changes
from projections.ids import hub_id, ref_key
from schemas import national_id
from schemas.envelope import Envelope


class Resolver:
    def __init__(self, known: dict[tuple[str, str, str], tuple[str, str]], changes: Changes):
        self.known = known
        self.changes = changes

    def linked(self, agency: str, kind: str, record_id: str) -> str | None:
        key = (agency, kind, record_id)
        hit = self.changes.links.get(key) or self.known.get(key)
        return hit[1] if hit else None

    # -- persons ---------------------------------------------------------------------
    def person(
        self,
        env: Envelope,
        person: dict[str, Any],
        agency: str,
        kind: str,
        record_id: str,
        case: str | None = None,
        at: str | None = None,
    ) -> str:
        """Record one person mention; returns its record node. Which hub person it belongs
        to is the component of record nodes joined by identity numbers and decisions.
        ``case``, ``at``: the case node of a party record and the place of the event that
        names it (context for matching)."""
        ch = self.changes
        rec = ref_key(agency, kind, record_id)
        raw_nid = person.get("national_id")
        nid = national_id.normalize(raw_nid) if isinstance(raw_nid, str) else None
        valid = bool(nid) and national_id.is_valid(nid or "")
        ch.touch(env, "record", rec)
        if nid:
            ch.set_field(env, "record", rec, "national_id", nid)
            ch.set_field(env, "record", rec, "national_id_valid", valid)
        if valid:
            ch.edge(rec, f"nid:{nid}")
        name = person.get("name")
        name = name.strip() if isinstance(name, str) and name.strip() else None
        if name:
            ch.set_field(env, "record", rec, "name", name)
            ch.add_member(env, "record", rec, "name", name)
        birth = person.get("birth_date") or (national_id.birth_date(nid) if valid and nid else None)
        if birth:
            ch.set_field(env, "record", rec, "birth_date", birth)
        gender = person.get("gender") or (national_id.gender(nid) if valid and nid else None)
        if gender:
            ch.set_field(env, "record", rec, "gender", gender)
        phone = person.get("phone")
        phone = phone.strip() if isinstance(phone, str) and phone.strip() else None
        if phone:
            ch.add_member(env, "record", rec, "phone", phone)
        ch.mention(
            env,
            rec,
            name=name,
            national_id=nid,
            nid_valid=valid,
            birth_date=birth,
            phone=phone,
            case_node=case,
            case_place=at,
        )
        return rec

    def person_of_record(self, env: Envelope, agency: str, kind: str, record_id: str) -> str:
        """The record node of an agency record named by id only (a resident moving)."""
        rec = ref_key(agency, kind, record_id)
        self.changes.touch(env, "record", rec)
        return rec

    # -- places ------------------------------------------------------------------------
    def place(self, env: Envelope, address: dict[str, Any]) -> str:
        """One place per standard address, however the agency spelled it."""
        text = str(address.get("text", ""))
        grid = address.get("grid")
        std = parse_address(text, grid)
        plid = hub_id("PL", std.key())
        ch = self.changes
        ch.touch(env, "place", plid)
        ch.add_member(env, "place", plid, "spelling", text)
        ch.set_field(env, "place", plid, "address", std.parts())
        if grid:
            ch.set_field(env, "place", plid, "grid", grid)
        lat, lon = address.get("lat"), address.get("lon")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            ch.set_field(env, "place", plid, "location", [round(lon, 6), round(lat, 6)])
        building = std.building_key()
        if building:
            ch.set_field(env, "place", plid, "building", hub_id("BL", building))
        return plid

    # -- case threads ------------------------------------------------------------------
    def case(self, env: Envelope, agency: str, kind: str, record_id: str) -> str:
        cid = self.linked(agency, kind, record_id) or hub_id("C", ref_key(agency, kind, record_id))
        ch = self.changes
        ch.link(agency, kind, record_id, "case", cid)
        ch.add_case(cid, env.time)
        ch.add_member(
            env,
            "case",
            cid,
            "ref",
            ref_key(agency, kind, record_id),
            {"agency": agency, "kind": kind, "id": record_id},
        )
        ch.touch(env, "case", cid)
        return cid
