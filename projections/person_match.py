"""The live decider for persons: after a batch, bring each touched region of records to the
persons that :func:`projections.matching.cluster` makes of it.

A region is closed under what joins records: it starts from the records the batch touched
and the persons they belong to now, and grows through every pair that blocking finds and
that scores as a link, and through shared valid identity numbers, until nothing new joins.
Its persons are then a function of its records alone. The decider compares them with the
edges the resolver has decided so far and answers the decisions that close the gap (link
what should be joined, unlink what should not); so whatever order records arrive in, once
the last of them is in, the persons are the same. A person's own confirmations and
rejections are kept as they were decided.

The region's rows are locked (``FOR UPDATE``, in record order) before its edges are read:
two workers deciding over one region take turns, and the second sees the first's edges.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime

import asyncpg

from projections.decide import Decision
from projections.graph import components
from projections.matching import DEFAULT, Model, Record, Scored, cluster, compare, score, train

DECIDER = "resolver/fs-1"
# Candidates per blocking key and record, the same ones whatever the plan: a key shared by
# thousands (a switchboard's phone number) cannot make a region of thousands.
PER_KEY = 50

_COLUMNS = "record, name, national_id, nid_valid, birth_date, phone, place_id, sound"
_BLOCKED = (
    "WITH p AS (SELECT * FROM mention WHERE record = ANY($1::text[]))"
    " SELECT DISTINCT p.record AS probe, m.record FROM p JOIN LATERAL ("
    "  (SELECT record FROM mention m WHERE m.phone = p.phone ORDER BY record LIMIT $2)"
    "  UNION (SELECT record FROM mention m WHERE m.sound = p.sound"
    "   AND m.birth_date = p.birth_date ORDER BY record LIMIT $2)"
    "  UNION (SELECT record FROM mention m WHERE m.sound = p.sound"
    "   AND m.place_id = p.place_id ORDER BY record LIMIT $2)"
    "  UNION (SELECT record FROM mention m WHERE m.birth_date = p.birth_date"
    "   AND m.place_id = p.place_id ORDER BY record LIMIT $2)"
    "  UNION (SELECT record FROM mention m WHERE m.national_id = p.national_id"
    "   ORDER BY record LIMIT $2)"
    "  UNION (SELECT record FROM mention m WHERE m.sound = p.sound ORDER BY record LIMIT $2)"
    "  UNION (SELECT record FROM mention m WHERE length(p.national_id) = 18"
    "   AND length(m.national_id) = 18"
    "   AND left(m.national_id, 14) = left(p.national_id, 14) ORDER BY record LIMIT $2)"
    " ) m ON m.record <> p.record"
)


def _record(row: asyncpg.Record) -> Record:
    return Record(
        row["record"],
        row["name"],
        row["national_id"],
        row["nid_valid"],
        row["birth_date"],
        row["phone"],
        row["place_id"],
    )


def blocking_keys(r: Record, sound: str | None) -> list[tuple[str, ...]]:
    """The keys :data:`_BLOCKED` looks records up by, for pairing a region in memory."""
    keys: list[tuple[str, ...]] = []
    nid14 = r.national_id[:14] if r.national_id and len(r.national_id) == 18 else None
    for k in (
        ("phone", r.phone),
        ("sb", sound, r.birth_date),
        ("sp", sound, r.place_id),
        ("bp", r.birth_date, r.place_id),
        ("nid", r.national_id),
        ("s", sound),
        ("nid14", nid14),
    ):
        if all(k[1:]):
            keys.append(tuple(str(x) for x in k))
    return keys


# The keys that pair records sharing two facts (or a phone): mostly one person, which is
# what EM needs to tell m from u. A name alone pairs too many strangers to learn from.
TRAINING_KEYS = frozenset({"phone", "sb", "sp", "bp", "nid"})


def blocked_pairs(
    model: Model,
    records: dict[str, Record],
    sounds: dict[str, str | None],
    keys: frozenset[str] | None = None,
) -> list[Scored]:
    """Every pair of the region that shares a blocking key (of ``keys``, all by default),
    scored."""
    by_key: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for rid in sorted(records):
        for k in blocking_keys(records[rid], sounds.get(rid)):
            if keys is None or k[0] in keys:
                by_key[k].append(rid)
    pairs = {(a, b) for ids in by_key.values() for a, b in itertools.combinations(ids, 2)}
    return [score(model, records[a], records[b]) for a, b in sorted(pairs)]


async def region(
    conn: asyncpg.Connection, seeds: set[str], model: Model = DEFAULT
) -> tuple[dict[str, Record], dict[str, str | None], list[Scored]]:
    """The records joined, or to be joined, to ``seeds``: closed under current persons,
    shared valid identity numbers and blocked pairs that score as links. Besides, the
    blocked pairs to records outside that score as candidates."""
    near: list[Scored] = []
    records: dict[str, Record] = {}
    sounds: dict[str, str | None] = {}
    frontier = set(seeds)
    while frontier:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM mention WHERE record = ANY($1::text[]) ORDER BY record",
            sorted(frontier),
        )
        found = {r["record"]: _record(r) for r in rows}
        records.update(found)
        sounds.update({r["record"]: r["sound"] for r in rows})
        grow: set[str] = set()
        comps = await components(conn, sorted(found))
        for nodes in comps.values():
            grow |= {n for n in nodes if not n.startswith("nid:")}
        blocked = [(r[0], r[1]) for r in await conn.fetch(_BLOCKED, sorted(found), PER_KEY)]
        unseen = sorted({c for _, c in blocked} - records.keys())
        if unseen:
            cands = {
                r["record"]: _record(r)
                for r in await conn.fetch(
                    f"SELECT {_COLUMNS} FROM mention WHERE record = ANY($1::text[])", unseen
                )
            }
            for probe, rid in blocked:
                if rid not in cands:
                    continue
                p = score(model, found[probe], cands[rid])
                if p.weight >= model.link_weight:
                    grow.add(rid)
                elif p.weight >= model.candidate_weight:
                    near.append(p)
        frontier = grow - records.keys()
    return records, sounds, [p for p in near if not (p.a in records and p.b in records)]


async def decide_persons(
    conn: asyncpg.Connection, touched: set[str], time: datetime, model: Model = DEFAULT
) -> list[Decision]:
    """The decisions that make the persons of every region ``touched`` reaches."""
    if not touched:
        return []
    records, sounds, near = await region(conn, touched, model)
    if not records:
        return []
    ids = sorted(records)
    # Take turns with another worker deciding over the same records.
    await conn.execute(
        "SELECT 1 FROM mention WHERE record = ANY($1::text[]) ORDER BY record FOR UPDATE", ids
    )
    pairs = blocked_pairs(model, records, sounds)
    by_nid: dict[str, list[str]] = defaultdict(list)
    for r in records.values():
        if r.nid_valid and r.national_id:
            by_nid[r.national_id].append(r.record)
    joined = [(g[0], x) for g in by_nid.values() for x in g[1:]]
    decided = await conn.fetch(
        "SELECT DISTINCT ON (least(a, b), greatest(a, b)) least(a, b) AS a,"
        " greatest(a, b) AS b, action, decided_by FROM resolution_decision"
        " WHERE a = ANY($1::text[]) AND b = ANY($1::text[]) AND action <> 'candidate'"
        " ORDER BY least(a, b), greatest(a, b), time DESC, decision_id DESC",
        ids,
    )
    by_people = [r for r in decided if not r["decided_by"].startswith("resolver/")]
    joined += [(r["a"], r["b"]) for r in by_people if r["action"] == "link"]
    rejected = [(r["a"], r["b"]) for r in by_people if r["action"] in ("reject", "unlink")]
    target = cluster(model, list(records.values()), pairs, joined, rejected)
    linked_now = {
        (r["a"], r["b"])
        for r in decided
        if r["decided_by"].startswith("resolver/") and r["action"] == "link"
    }
    people_pairs = {(r["a"], r["b"]) for r in by_people}
    counts = {
        (r["a"], r["b"]): r["n"]
        for r in await conn.fetch(
            "SELECT least(a, b) AS a, greatest(a, b) AS b, count(*) AS n FROM resolution_decision"
            " WHERE a = ANY($1::text[]) AND b = ANY($1::text[]) GROUP BY 1, 2",
            ids,
        )
    }
    weights = {(p.a, p.b): p for p in pairs}
    out: list[Decision] = []
    for a, b in sorted(target - linked_now - people_pairs):
        p = weights[(a, b)]
        out.append(
            Decision(
                "link",
                a,
                b,
                model.probability(p.weight),
                _evidence(p, model),
                DECIDER,
                time,
                seq=counts.get((a, b), 0),
            )
        )
    for a, b in sorted(linked_now - target - people_pairs):
        p = weights.get((a, b))
        ev = _evidence(p, model) if p else {"model": model.version}
        out.append(
            Decision(
                "unlink",
                a,
                b,
                model.probability(p.weight) if p else 0.0,
                ev | {"why": "the region's persons no longer join this pair"},
                DECIDER,
                time,
                seq=counts.get((a, b), 0),
            )
        )
    # Pairs close to a link but not joined: for a person to confirm or reject, asked once.
    outside = sorted({x for p in near for x in (p.a, p.b)} - records.keys())
    asked = {
        (r["a"], r["b"])
        for r in await conn.fetch(
            "SELECT least(a, b) AS a, greatest(a, b) AS b FROM resolution_decision"
            " WHERE action = 'candidate' AND a = ANY($1::text[]) AND b = ANY($1::text[])",
            ids + outside,
        )
    }
    group = _groups(ids + outside, target | set(joined))
    for p in sorted([*pairs, *near], key=lambda p: (p.a, p.b)):
        if (
            model.candidate_weight <= p.weight < model.link_weight
            and group[p.a] != group[p.b]
            and (p.a, p.b) not in asked
            and (p.a, p.b) not in people_pairs
        ):
            out.append(
                Decision(
                    "candidate",
                    p.a,
                    p.b,
                    model.probability(p.weight),
                    _evidence(p, model),
                    DECIDER,
                    time,
                )
            )
    return out


def _groups(ids: list[str], links: set[tuple[str, str]]) -> dict[str, str]:
    parent = {i: i for i in ids}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in sorted(links):
        if a in parent and b in parent:
            parent[max(find(a), find(b))] = min(find(a), find(b))
    return {i: find(i) for i in ids}


def _evidence(p: Scored, model: Model) -> dict[str, object]:
    return {"levels": p.vector, "weight": round(p.weight, 3), "model": model.version}


async def train_from_mentions(
    conn: asyncpg.Connection, limit: int = 50_000, start: Model = DEFAULT
) -> tuple[Model, int, int]:
    """Fellegi–Sunter weights estimated from the read model's own records: the first
    ``limit`` records by id (the same sample every time), the pairs blocking finds among
    them (for m, by EM) and as many pairs drawn without blocking (for u). Returns the model
    and the numbers of blocked and unblocked pairs it saw."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM mention ORDER BY record LIMIT $1", limit)
    records = {r["record"]: _record(r) for r in rows}
    sounds = {r["record"]: r["sound"] for r in rows}
    blocked = [p.vector for p in blocked_pairs(start, records, sounds, TRAINING_KEYS)]
    ids = sorted(records)
    n = len(ids)
    # Unblocked pairs: each record with one far from it in id order (a fixed stride): nearly
    # all are two different people, which is what u measures.
    strangers = [
        compare(records[ids[i]], records[ids[(i * 7919 + n // 2) % n]])
        for i in range(n)
        if ids[i] != ids[(i * 7919 + n // 2) % n]
    ]
    return train(blocked, strangers, start), len(blocked), len(strangers)
