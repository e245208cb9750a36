"""Referral decisions (分流): a 110 call referred to the city, by the police or by the rules'
diversions, and the city case opened at its address soon after are one matter. Decided in
the batch from whichever record arrives last; the decisions go to the log like the persons'
(:mod:`projections.decisions` applies them as it reads them back)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import asyncpg

from projections.case_thread import CITY_CASE, POLICE_INCIDENT
from projections.changes import Changes
from projections.decide import DECIDER, Decision, decide_referral
from projections.graph import canonical_node, components

# A call the rules divert (no referral event from the police) joins a city case of the
# category the rules divert it to, at its address, opened within this many hours of the
# call (the one-click transfer opens it at once); a later case there, or one of another
# category, is most likely another matter (on the simulator: a street-vendor complaint by
# the caller 58 h after a dispute call; a garbage complaint 27 min after a noise call).
DIVERTED_HOURS = 2.0
# ... or opened at most this many hours before the call: the grid member saw the matter
# first, then a citizen called 110 about it (issue 13). Short, and with the category check:
# 2 h before joined other matters (threads precision 0.967 on ``bench.quality --generator
# town``), and so did 1 h (0.9747 at 10 % noise, 150 people, seed 1: another dispute at
# the caller's address); 30 min matched main's figures on seeds 1–3 and on 1,000 people.
DIVERTED_BEFORE_HOURS = 0.5

# The same room of a grid joins a city case to a call only where one side wrote no road:
# two full addresses in one grid are two places, whatever their room numbers.
_ONE_SIDE_PARTIAL = (
    " AND (mine.relation = 'place' OR (mine.attrs->>'partial')::boolean"
    " OR (pl.attrs->>'partial')::boolean)"
)


async def decide_referrals(
    conn: asyncpg.Connection, ch: Changes, diverted: Mapping[str, str] | None = None
) -> list[Decision]:
    """A city case at the address of a 110 call referred to the city, opened soon after the
    referral: the same matter. The same address is the same place, or the same room of the
    same grid where one side wrote only building, unit and room (a grid member's note).
    A call is referred to the city by the police (``police.incident.referred``) or by the
    hub's rules, when its category is one the rules divert to the city (``diverted``: 110
    category → the city category the transfer opens; then at the call's own time, and a
    case of that category opened up to ``DIVERTED_BEFORE_HOURS`` before the call joins too).
    Probed from whichever side arrives last: the city case, the referral, or the report.

    One referral is one matter: of the city cases in its window, the one that fits best
    (a party in common, then the nearest to the referral's time, then the same place over
    the same room, then the smallest id) joins the call, and any other that a referral
    decision joined (or could have joined, with its decision still on its way back through
    the log) is unlinked. The best depends only on which cases are known, never on their
    order of arrival."""
    placed = {k[1] for k in ch.members if k[0] == "case" and k[2] in ("place", "room")}
    nodes: dict[tuple[str, str], set[str]] = {}
    for (agency, kind, _rid), (_k, eid) in ch.links.items():
        nodes.setdefault((agency, kind), set()).add(eid)
    city_cases = sorted(c for c in nodes.get(CITY_CASE, set()) if c in placed)
    # a call whose report, address or referral is in this batch: its window may have news
    incidents: set[str] = {c for c in nodes.get(POLICE_INCIDENT, set()) if c in placed}
    incidents |= {
        k[1] for k in ch.members if k[0] == "case" and k[2] == "escalation" and k[3] == "city"
    }
    if city_cases:
        # calls at the same place, or at the same room of the same grid however much of
        # the address either side wrote, in the window before each new city case
        rows = await conn.fetch(
            "SELECT DISTINCT pl.entity_id FROM unnest($1::text[]) AS x(cid)"
            " JOIN entity_member mine ON mine.entity_kind = 'case' AND mine.entity_id = x.cid"
            " AND mine.relation IN ('place', 'room')"
            " JOIN entity_member pl ON pl.relation = mine.relation AND pl.member = mine.member"
            " AND pl.entity_kind = 'case' AND pl.entity_id <> x.cid"
            + _ONE_SIDE_PARTIAL
            + " JOIN case_thread ct ON ct.case_id = pl.entity_id"
            " JOIN case_thread me ON me.case_id = x.cid"
            " WHERE ct.opened_at BETWEEN me.opened_at - interval '72 hours'"
            " AND me.opened_at + $2::float8 * interval '1 hour'",
            city_cases,
            DIVERTED_BEFORE_HOURS,
        )
        incidents |= {r[0] for r in rows}
    if not incidents:
        return []
    # every city case in each referred call's window, with what ranks it: in small steps,
    # each an index lookup whatever the planner's statistics say (one join of it all, planned
    # on the counts of a model still filling up, took minutes on a batch)
    rows = await _candidates(conn, sorted(incidents), diverted or {})
    if not rows:
        return []
    pairs = [(r["cid"], r["inc"]) for r in rows]
    # the referral decisions already applied to each pair: (how many, the latest action)
    past: dict[tuple[str, str], tuple[int, str]] = {
        (r["a"], r["b"]): (r["n"], r["last"])
        for r in await conn.fetch(
            "SELECT d.a, d.b, count(*) AS n,"
            # the latest: by the sequence number each carries, an unlink after a link of
            # the same number (a link still on its way back when a better case came)
            " (array_agg(d.action ORDER BY coalesce((d.evidence->>'seq')::int, 0),"
            " d.action = 'unlink'))[count(*)] AS last"
            " FROM unnest($1::text[], $2::text[]) AS x(a, b)"
            " JOIN resolution_decision d ON d.a = x.a AND d.b = x.b"
            " AND d.decided_by = $3 GROUP BY 1, 2",
            [p[0] for p in pairs],
            [p[1] for p in pairs],
            DECIDER,
        )
    }
    shared = await _shared_persons(conn, pairs)
    comps = await components(conn, sorted({n for p in pairs for n in p}), "case_edge")
    by_incident: dict[str, list[tuple[tuple[int, float, int, str], Decision]]] = {}
    for r in rows:
        hours = (r["c"] - r["i"]).total_seconds() / 3600
        if not r["by_police"] and (
            not -DIVERTED_BEFORE_HOURS <= hours <= DIVERTED_HOURS
            or r["case_category"] != (diverted or {}).get(r["inc_category"] or "")
        ):
            continue  # diverted by the rules alone: only the case the transfer opened
        d = decide_referral(
            r["cid"],
            r["inc"],
            r["place"],
            max(hours, 0.0),
            shared.get((r["cid"], r["inc"])),
            r["c"],
        )
        if d is None:
            continue
        if hours < 0:  # the city case came first, then the call (diverted calls only)
            d = dataclasses.replace(
                d, evidence={**d.evidence, "hours_before_call": round(-hours, 2)}
            )
        rank = (
            0 if (r["cid"], r["inc"]) in shared else 1,
            abs((r["c"] - r["referred"]).total_seconds()),
            0 if r["same_place"] else 1,
            r["cid"],
        )
        if not r["same_place"]:
            d = dataclasses.replace(d, evidence={**d.evidence, "same_room_in_grid": True})
        by_incident.setdefault(r["inc"], []).append((rank, d))
    out: list[Decision] = []
    for incident in sorted(by_incident):
        ranked = sorted(by_incident[incident], key=lambda x: x[0])
        for k, (_rank, d) in enumerate(ranked):
            n, last = past.get((d.a, d.b), (0, ""))
            if k == 0:
                if incident in comps.get(d.a, []) or last == d.action:
                    continue  # already one thread, or decided so already
                out.append(dataclasses.replace(d, evidence={**d.evidence, "seq": n}, seq=n))
            elif last == "link" or (not n and d.action == "link"):
                out.append(
                    Decision(
                        "unlink",
                        d.a,
                        d.b,
                        d.score,
                        {**d.evidence, "another_case_fits_better": ranked[0][1].a, "seq": n},
                        DECIDER,
                        d.time,
                        "case",
                        n,
                    )
                )
    return out


async def _candidates(
    conn: asyncpg.Connection, incidents: list[str], diverted: Mapping[str, str]
) -> list[dict[str, Any]]:
    """For each call referred to the city (by the police, or by the rules: a diverted
    category), each city case at the same place, or the same room of the same grid where one
    side wrote no road, opened in the 72 h after the call (or, for a diverted call, at most
    ``DIVERTED_BEFORE_HOURS`` before it)."""
    calls = {
        r["inc"]: r
        for r in await conn.fetch(
            "SELECT x.inc, me.opened_at AS i, min(esc.time) AS esc_time,"
            " bool_or(esc.member IS NOT NULL) AS by_police, min(cat.value #>> '{}') AS category"
            " FROM unnest($1::text[]) AS x(inc)"
            " JOIN record_link ri ON ri.entity_kind = 'case' AND ri.entity_id = x.inc"
            " AND ri.agency = 'police' AND ri.kind = 'incident'"
            " JOIN case_thread me ON me.case_id = x.inc"
            " LEFT JOIN entity_member esc ON esc.entity_kind = 'case' AND esc.entity_id = x.inc"
            " AND esc.relation = 'escalation' AND esc.member = 'city'"
            " LEFT JOIN entity_field cat ON cat.entity_kind = 'case' AND cat.entity_id = x.inc"
            " AND cat.field = 'category' GROUP BY 1, 2",
            incidents,
        )
        if r["by_police"] or r["category"] in diverted
    }
    if not calls:
        return []
    where = await conn.fetch(
        "SELECT entity_id, relation, member, coalesce((attrs->>'partial')::boolean, false) AS p"
        " FROM entity_member WHERE entity_kind = 'case' AND entity_id = ANY($1::text[])"
        " AND relation IN ('place', 'room')",
        sorted(calls),
    )
    keys = sorted({(w["relation"], w["member"]) for w in where})
    there: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for r in await conn.fetch(
        "SELECT m.relation, m.member, m.entity_id,"
        " coalesce((m.attrs->>'partial')::boolean, false) AS p"
        " FROM unnest($1::text[], $2::text[]) AS k(rel, mem) JOIN entity_member m"
        " ON m.relation = k.rel AND m.member = k.mem AND m.entity_kind = 'case'",
        [k[0] for k in keys],
        [k[1] for k in keys],
    ):
        there.setdefault((r["relation"], r["member"]), []).append((r["entity_id"], r["p"]))
    found: dict[tuple[str, str], bool] = {}  # (call, case) → at the same place
    for w in where:
        for cid, partial in there.get((w["relation"], w["member"]), []):
            if w["relation"] == "place" or w["p"] or partial:
                same = w["relation"] == "place"
                found[(w["entity_id"], cid)] = found.get((w["entity_id"], cid), False) or same
    cases = {
        r["cid"]: r
        for r in await conn.fetch(
            "SELECT x.cid, ct.opened_at AS c, min(ccat.value #>> '{}') AS category,"
            " min(cp.member) AS place FROM unnest($1::text[]) AS x(cid)"
            " JOIN record_link rl ON rl.entity_kind = 'case' AND rl.entity_id = x.cid"
            " AND rl.agency = 'city' AND rl.kind = 'case'"
            " JOIN case_thread ct ON ct.case_id = x.cid"
            " LEFT JOIN entity_field ccat ON ccat.entity_kind = 'case'"
            " AND ccat.entity_id = x.cid AND ccat.field = 'category'"
            " LEFT JOIN entity_member cp ON cp.entity_kind = 'case' AND cp.entity_id = x.cid"
            " AND cp.relation = 'place' GROUP BY 1, 2",
            sorted({cid for _, cid in found}),
        )
    }
    out = []
    for (inc, cid), same in sorted(found.items()):
        call, case = calls[inc], cases.get(cid)
        before = timedelta(0 if call["by_police"] else DIVERTED_BEFORE_HOURS)
        if case is None or not call["i"] - before <= case["c"] <= call["i"] + timedelta(hours=72):
            continue
        out.append(
            {
                "inc": inc,
                "cid": cid,
                "c": case["c"],
                "i": call["i"],
                "referred": call["esc_time"] or call["i"],
                "place": case["place"],
                "by_police": call["by_police"],
                "inc_category": call["category"],
                "case_category": case["category"],
                "same_place": same,
            }
        )
    return out


async def _shared_persons(
    conn: asyncpg.Connection, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """For each (city case, incident) pair with a party in common: that person's node."""
    ids = sorted({n for p in pairs for n in p})
    people = await conn.fetch(
        "SELECT entity_id, attrs->>'record' AS record FROM entity_member"
        " WHERE entity_kind = 'case' AND relation = 'person' AND entity_id = ANY($1::text[])",
        ids,
    )
    pc = await components(conn, sorted({r["record"] for r in people}))
    sides: dict[str, set[str]] = {}
    for r in people:
        sides.setdefault(r["entity_id"], set()).add(
            canonical_node(pc.get(r["record"], [r["record"]]))
        )
    out = {}
    for a, b in pairs:
        common = sorted(sides.get(a, set()) & sides.get(b, set()))
        if common:
            out[(a, b)] = common[0]
    return out
