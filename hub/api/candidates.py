"""Uncertain person matches, and a person's word on them: confirming or rejecting a candidate
is a decision event in the log (decided by that user), applied like the resolver's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, Request

from hub.api.context import ReadContext, reader, v1_router
from hub.api.params import DecisionId, PersonId
from hub.api.problems import Problem
from projections.decide import Decision
from projections.reads import persons as persons_reads

router = v1_router(tags=["persons"])
PersonReader = Annotated[ReadContext, Depends(reader("person"))]


@router.get(
    "/v1/persons/{person_id}/candidates",
    summary="Records that may be this person, waiting for someone to confirm or reject",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "items": [
                            {
                                "decision_id": "D-7d1e0c5b9a3f2e41",
                                "record": "city:reporter:C-2026-000042",
                                "person_id": "P-0b9e2d71c4a85f13",
                                "score": 0.82,
                                "evidence": {
                                    "name": "one character apart",
                                    "birth_date": "same",
                                    "phone": "different",
                                },
                                "time": "2026-11-23T08:00:00Z",
                            }
                        ],
                        "next": None,
                    }
                }
            }
        }
    },
)
async def candidates(person_id: PersonId, ctx: PersonReader) -> dict[str, Any]:
    withhold = ctx.policy.withhold(ctx.principal)
    p = await persons_reads.person(ctx.pool, person_id, withhold)
    if p is None:
        await ctx.done([], "not-found")
        raise Problem(404, "Not found", f"no person {person_id!r}")
    records = [f"{r['agency']}:{r['kind']}:{r['id']}" for r in p["records"]]
    rows = await ctx.pool.fetch(
        "SELECT d.decision_id, d.a, d.b, d.score, d.evidence, d.time FROM resolution_decision d"
        " WHERE d.action = 'candidate' AND (d.a = ANY($1::text[]) OR d.b = ANY($1::text[]))"
        " AND NOT EXISTS (SELECT 1 FROM resolution_decision x WHERE x.action <> 'candidate'"
        " AND ((x.a = d.a AND x.b = d.b) OR (x.a = d.b AND x.b = d.a)))"
        " ORDER BY d.score DESC, d.decision_id",
        records,
    )
    mine = set(records)
    others = [r["b"] if r["a"] in mine else r["a"] for r in rows]
    hidden = await persons_reads.withheld_records(ctx.pool, others, withhold)
    items = []
    for r in rows:
        other = r["b"] if r["a"] in mine else r["a"]
        if other in hidden:
            continue  # a record the reader may not see is not shown as a candidate either
        other_pid = (await persons_reads.canonical_persons(ctx.pool, [other]))[other]
        if other_pid == p["person_id"]:
            continue  # joined meanwhile
        items.append(
            {
                "decision_id": r["decision_id"],
                "record": other,
                "person_id": other_pid,
                "score": r["score"],
                "evidence": r["evidence"],
                "time": r["time"],
            }
        )
    await ctx.done([p["person_id"], *[i["person_id"] for i in items]])
    return {"items": items, "next": None}


@router.post(
    "/v1/persons/candidates/{decision_id}/{verdict}",
    status_code=202,
    summary="Confirm (link) or reject a candidate match; becomes an event in the log",
    responses={
        202: {
            "content": {
                "application/json": {
                    "example": {
                        "decision_id": "D-5e0a9c3b1d7f2468",
                        "action": "link",
                        "a": "civil:resident:R-000001",
                        "b": "city:reporter:C-2026-000042",
                    }
                }
            }
        }
    },
)
async def judge(
    decision_id: DecisionId,
    verdict: Literal["confirm", "reject"],
    request: Request,
    ctx: PersonReader,
) -> dict[str, Any]:
    row = await ctx.pool.fetchrow(
        "SELECT a, b, score, evidence FROM resolution_decision WHERE decision_id = $1"
        " AND action = 'candidate'",
        decision_id,
    )
    if row is None:
        await ctx.done([], "not-found")
        raise Problem(404, "Not found", f"no candidate decision {decision_id!r}")
    if await persons_reads.withheld_records(
        ctx.pool, [row["a"], row["b"]], ctx.policy.withhold(ctx.principal)
    ):
        await ctx.done([], "not-found")  # not shown to this reader: as if there were none
        raise Problem(404, "Not found", f"no candidate decision {decision_id!r}")
    if ctx.principal.role != "investigator":
        # ../shared/CONTRACT.md section 9: who is who is decided by investigators only
        await ctx.done([row["a"], row["b"]], "denied")
        raise Problem(403, "Forbidden", "confirming or rejecting a match needs role investigator")
    decided = await ctx.pool.fetchval(
        "SELECT action FROM resolution_decision WHERE action IN ('link', 'reject', 'unlink')"
        " AND decided_by LIKE 'user:%' AND ((a = $1 AND b = $2) OR (a = $2 AND b = $1))"
        " ORDER BY time DESC LIMIT 1",
        row["a"],
        row["b"],
    )
    if decided is not None:
        await ctx.done([row["a"], row["b"]], "conflict")
        raise Problem(
            409,
            "Already decided",
            f"a person already decided this pair ({decided}); it stays decided",
        )
    d = Decision(
        "link" if verdict == "confirm" else "reject",
        row["a"],
        row["b"],
        1.0,
        {
            "candidate": decision_id,
            "resolver_score": row["score"],
            "resolver_evidence": row["evidence"],
            "purpose": ctx.purpose,
        },
        f"user:{ctx.principal.user}",
        datetime.now(UTC),
    )
    gateway = request.app.state.gateway
    topic = request.app.state.resolution_topic
    await gateway.producer.send_and_wait(topic, orjson.dumps(d.event()), key=d.a.encode())
    persons = await persons_reads.canonical_persons(ctx.pool, [row["a"], row["b"]])
    await ctx.done(sorted(set(persons.values())), f"decided:{d.action}")
    return {"decision_id": d.id, "action": d.action, "a": d.a, "b": d.b}
