"""Who consulted a person, when and why: the citizen's right (as Estonia's Data Tracker)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query

from hub.api.context import ReadContext, reader, v1_router
from hub.api.params import PersonId
from projections.reads import persons as persons_reads

router = v1_router(tags=["audit"])
AuditReader = Annotated[ReadContext, Depends(reader("audit"))]


@router.get(
    "/v1/audit/subjects/{person_id}",
    summary="Every read that returned this person: who, when, from where, why, outcome",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "items": [
                            {
                                "at": "2026-11-23T08:15:02Z",
                                "user": "duty-officer-7",
                                "agency": "city",
                                "role": "command-center",
                                "client": "10.0.0.7",
                                "purpose": "dispute follow-up",
                                "path": "/v1/persons/P-72fe43937491d8a6",
                                "outcome": "ok",
                            }
                        ],
                        "next": None,
                    }
                }
            }
        }
    },
)
async def subject_reads(
    person_id: PersonId,
    ctx: AuditReader,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> dict[str, Any]:
    # A person merged later was read under its other ids too: ask for all of them.
    p = await persons_reads.person(ctx.pool, person_id)
    ids = [person_id] + ([p["person_id"], *p["also_known_as"]] if p else [])
    rows = await ctx.pool.fetch(
        "SELECT id, at, user_name, agency, role, client, purpose, path, outcome, case_ref"
        " FROM audit_log"
        " WHERE subject_ids && $1::text[] AND ($2::bigint IS NULL OR id < $2)"
        " ORDER BY id DESC LIMIT $3",
        sorted(set(ids)),
        cursor,
        limit + 1,
    )
    await ctx.done([])  # the auditor's own read is audited too (not as a read of the person)
    items = [
        {
            "at": r["at"],
            "user": r["user_name"],
            "agency": r["agency"],
            "role": r["role"],
            "client": r["client"],
            "purpose": r["purpose"],
            "path": r["path"],
            "outcome": r["outcome"],
            **({"case_ref": r["case_ref"]} if r["case_ref"] else {}),
        }
        for r in rows[:limit]
    ]
    nxt = rows[limit - 1]["id"] if len(rows) > limit else None
    return {"items": items, "next": nxt}
