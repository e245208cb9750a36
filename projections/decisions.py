"""Resolution decisions in the read model: decisions read back from the hub's resolution
topic become (or stop being) edges of persons and threads; and the decisions a batch calls
for: persons by region (:mod:`projections.person_match`); referrals are decided in
:mod:`projections.referrals`.

A rebuild applies decisions only as it reads them; it never decides."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import orjson

from projections.changes import Changes
from projections.decide import Decision, parse_decision
from projections.graph import ORIGIN_MERGE, components, write_nodes
from projections.intake import InboundRecord, RejectedRecord
from projections.matching import Model
from projections.person_match import decide_persons

EDGE_ACTIONS = frozenset({"link", "unlink", "reject"})


async def apply_decisions(
    conn: asyncpg.Connection, records: list[InboundRecord]
) -> tuple[list[RejectedRecord], list[Decision]]:
    """Resolution decisions read from the log become (or stop being) edges. Set-based:
    one statement records them all, then each run of same-kind decisions (in log order,
    so a link then an unlink of the same pair still ends unlinked) is one statement."""
    bad: list[RejectedRecord] = []
    parsed: list[Decision] = []
    for rec in records:
        try:
            parsed.append(parse_decision(rec.value or b""))
        except (ValueError, KeyError, TypeError) as exc:
            bad.append(RejectedRecord(rec, "bad-decision", str(exc)[:500], None, None))
    applied = await apply_parsed(conn, parsed)
    by_people = [
        d for d in applied if d.graph == "person" and not d.decided_by.startswith("resolver/")
    ]
    return bad, by_people


async def apply_parsed(conn: asyncpg.Connection, parsed: list[Decision]) -> list[Decision]:
    """Decisions become edges, each once (a decision seen again is skipped); returns
    those applied now."""
    if not parsed:
        return []
    first: dict[str, int] = {}
    for i, d in enumerate(parsed):
        first.setdefault(d.id, i)
    once = [d for i, d in enumerate(parsed) if first[d.id] == i]
    inserted = {
        r[0]
        for r in await conn.fetch(
            "INSERT INTO resolution_decision (decision_id, action, a, b, score, evidence,"
            " decided_by, time) SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
            " $4::text[], $5::float8[], $6::jsonb[], $7::text[], $8::timestamptz[])"
            " ON CONFLICT DO NOTHING RETURNING decision_id",
            [d.id for d in once],
            [d.action for d in once],
            [d.a for d in once],
            [d.b for d in once],
            [d.score for d in once],
            [d.evidence for d in once],
            [d.decided_by for d in once],
            [d.time for d in once],
        )
    }
    # the same decision again (a replay after a crash): once is enough
    todo = [d for d in once if d.id in inserted]
    runs: list[tuple[tuple[str, bool], list[Decision]]] = []
    for d in todo:
        if d.action not in EDGE_ACTIONS:
            continue  # a candidate waits for a person's word: no edge either way
        key = (d.graph, d.action == "link")
        if runs and runs[-1][0] == key:
            runs[-1][1].append(d)
        else:
            runs.append((key, [d]))
    for (graph, link), ds in runs:
        a, b, ids = [d.a for d in ds], [d.b for d in ds], [d.id for d in ds]
        table = "case_edge" if graph == "case" else "person_edge"
        if link:
            await conn.execute(
                # both directions; a pair decided twice in the run keeps the smallest
                # decision id, as ORIGIN_MERGE does for decisions across statements
                f"INSERT INTO {table} AS e (src, dst, origin) SELECT s, d, min(o) FROM"
                " (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) UNION ALL"
                "  SELECT * FROM unnest($2::text[], $1::text[], $3::text[])) x(s, d, o)"
                " GROUP BY s, d ORDER BY s, d"
                " ON CONFLICT (src, dst) DO UPDATE SET origin = " + ORIGIN_MERGE,
                a,
                b,
                ids,
            )
            if graph == "person":
                await write_nodes(conn, set(a) | set(b))
        else:  # unlink, reject: remove decided edges; an agency's own statement stays
            keep = "origin LIKE 'D-%'" if graph == "case" else "origin <> 'national_id'"
            await conn.execute(
                f"DELETE FROM {table} e USING unnest($1::text[], $2::text[]) AS x(a, b)"
                f" WHERE e.{keep} AND ((e.src = x.a AND e.dst = x.b)"
                " OR (e.src = x.b AND e.dst = x.a))",
                a,
                b,
            )
    return todo


async def touched_by_batch(
    conn: asyncpg.Connection, ch: Changes, by_people: list[Decision]
) -> tuple[set[str], datetime | None]:
    """The records whose persons a batch may have changed (and the latest time among its
    statements): records it stated, records of people's own decisions, and the parties of
    threads it joined (thread mates now)."""
    times = [v[0][0] for v in (*ch.mentions.values(), *ch.mention_places.values())]
    times += [d.time for d in by_people]
    touched = set(ch.mentions) | set(ch.mention_places)
    touched |= {x for d in by_people for x in (d.a, d.b)}
    if ch.case_edges:  # threads joined: their parties are thread mates now
        ends = sorted({n for e in ch.case_edges for n in e})
        comps = await components(conn, ends, "case_edge")
        nodes = sorted({n for c in comps.values() for n in c})
        touched |= {
            r["record"]
            for r in await conn.fetch(
                "SELECT record FROM mention WHERE case_node = ANY($1::text[])"
                " AND sound IS NOT NULL",
                nodes,
            )
        }
        times += [e[2] for e in ch.entities]  # (kind, id, time, source, event id)
    return touched, (max(times) if times else None)


async def decide_and_apply(
    conn: asyncpg.Connection, touched: set[str], time: datetime, model: Model
) -> list[Decision]:
    """The decisions that bring every region ``touched`` reaches to its persons
    (:mod:`projections.person_match`), applied here, in the caller's transaction, so the
    next batch or resolver round (of this worker or another) decides on them; read back
    from the log they are already known and change nothing, while a rebuild, which never
    decides, applies them in log order."""
    made = await decide_persons(conn, touched, time, model)
    # as the log will carry them (scores rounded, times as written): a rebuild that
    # reads them back stores the same rows
    made = [parse_decision(orjson.dumps(d.event())) for d in made]
    await apply_parsed(conn, made)
    return made


async def decide_persons_of_batch(
    conn: asyncpg.Connection, ch: Changes, by_people: list[Decision], model: Model
) -> list[Decision]:
    """The decisions for every region the batch touched, made in the batch's transaction."""
    touched, time = await touched_by_batch(conn, ch, by_people)
    if time is None:
        return []
    return await decide_and_apply(conn, touched, time, model)
