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

from projections.clustering import cluster
from projections.decide import Decision
from projections.graph import components
from projections.matching import DEFAULT, Model, Record, Scored, compare, score, train

DECIDER = "resolver/fs-1"
# Candidates per blocking key and record, the same ones whatever the plan: a key shared by
# thousands (a switchboard's phone number) cannot make a region of thousands.
PER_KEY = 20

_COLUMNS = "record, name, national_id, nid_valid, birth_date, phone, place_id, sound"
_BLOCKED = (
    "WITH p AS (SELECT * FROM mention WHERE record = ANY($1::text[])), b AS ("
    " SELECT DISTINCT p.record AS probe, m.record FROM p JOIN LATERAL ("
    "  (SELECT record FROM mention m WHERE m.phone = p.phone ORDER BY record LIMIT $2)"
    "  UNION (SELECT record FROM mention m WHERE m.sound = p.sound"
    "   AND m.birth_date = p.birth_date ORDER BY record LIMIT $2)"
    "  UNION (SELECT record FROM mention m WHERE m.sound = p.sound"
    "   AND m.place_id = p.place_id ORDER BY record LIMIT $2)"
    "  UNION (SELECT record FROM mention m WHERE m.birth_date = p.birth_date"
    "   AND m.place_id = p.place_id ORDER BY record LIMIT $2)"
    # the same number written (records of one valid number are one person by fact)
    "  UNION (SELECT record FROM mention m WHERE NOT p.nid_valid"
    "   AND m.national_id = p.national_id ORDER BY record LIMIT $2)"
    # a name alone pairs records only where one of them has no valid identity number (two
    # valid numbers are two people, or one by fact), and only the first few: a name alone
    # makes a candidate, never a link, and common names are shared by thousands
    "  UNION (SELECT record FROM mention m WHERE m.sound = p.sound"
    "   AND NOT (m.nid_valid AND p.nid_valid) ORDER BY record LIMIT 10)"
    "  UNION (SELECT record FROM mention m WHERE length(p.national_id) = 18"
    "   AND length(m.national_id) = 18 AND NOT (m.nid_valid AND p.nid_valid)"
    "   AND left(m.national_id, 14) = left(p.national_id, 14) ORDER BY record LIMIT $2)"
    " ) m ON m.record <> p.record),"
    # Mates: records of the probe's case thread whose names sound the same, and a party
    # without an address of its own with the residents of its case's place of that name
    # (either way round): context that a name alone does not have.
    " mt AS (SELECT p.record AS probe, m.record FROM p"
    "  JOIN case_thread tp ON tp.case_id = p.case_node"
    "  JOIN case_thread tm ON tm.thread_id = tp.thread_id"
    "  JOIN mention m ON m.case_node = tm.case_id AND m.sound = p.sound"
    "  WHERE m.record <> p.record"
    "  UNION SELECT p.record, m.record FROM p JOIN mention m ON m.place_id = p.case_place"
    "  AND m.sound = p.sound WHERE p.place_id IS NULL AND m.record <> p.record"
    "  UNION SELECT p.record, m.record FROM p JOIN mention m ON m.case_place = p.place_id"
    "  AND m.sound = p.sound AND m.place_id IS NULL WHERE m.record <> p.record)"
    " SELECT b.probe, false AS mate, "
    + ", ".join(f"c.{c}" for c in _COLUMNS.split(", "))
    + " FROM b JOIN mention c ON c.record = b.record"
    " UNION ALL SELECT mt.probe, true, "
    + ", ".join(f"c.{c}" for c in _COLUMNS.split(", "))
    + " FROM mt JOIN mention c ON c.record = mt.record"
)


Region = tuple[dict[str, Record], dict[str, str | None], list[Scored], set[tuple[str, str]]]


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
) -> Region | None:
    """The records joined, or to be joined, to ``seeds``: closed under current persons,
    shared valid identity numbers, blocked pairs that score as links and thread mates
    (records of one case thread whose names sound the same). Besides, the blocked pairs
    to records outside that score as candidates. None when there is nothing
    to decide: the seeds reach no record but by a shared valid identity number (a fact, no
    decision), and no decided edge (the common case, answered in four statements)."""
    near: list[Scored] = []
    mates: set[tuple[str, str]] = set()
    records: dict[str, Record] = {}
    sounds: dict[str, str | None] = {}
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM mention WHERE record = ANY($1::text[]) ORDER BY record",
        sorted(seeds),
    )
    cached = {r["record"]: r for r in rows}
    frontier = set(cached)
    first = True
    while frontier:
        found = {rid: _record(cached[rid]) for rid in sorted(frontier) if rid in cached}
        records.update(found)
        sounds.update({rid: cached[rid]["sound"] for rid in found})
        grow: set[str] = set()
        comps = await components(conn, sorted(found))
        for nodes in comps.values():
            grow |= {n for n in nodes if not n.startswith("nid:")}
        decided_only_by_fact = first and not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM person_edge WHERE src = ANY($1::text[])"
            " AND origin LIKE 'D-%')",
            sorted(grow | found.keys()),
        )
        for r in await conn.fetch(_BLOCKED, sorted(found), PER_KEY):
            cached.setdefault(r["record"], r)
            if r["mate"]:
                mates.add((min(r["probe"], r["record"]), max(r["probe"], r["record"])))
                grow.add(r["record"])
                decided_only_by_fact = False
                continue
            probe, cand = found[r["probe"]], _record(r)
            if _fact_pair(probe, cand):
                grow.add(cand.record)  # one person by fact: in the region, nothing to score
                continue
            p = score(model, probe, cand)
            if p.weight >= model.link_weight:
                grow.add(cand.record)
                decided_only_by_fact = False
            elif p.weight >= model.candidate_weight:
                near.append(p)
                decided_only_by_fact = False
        if first and decided_only_by_fact:
            return None
        first = False
        unseen = sorted(grow - records.keys() - cached.keys())
        if unseen:  # joined through decided edges: not fetched with the candidates
            for r in await conn.fetch(
                f"SELECT {_COLUMNS} FROM mention WHERE record = ANY($1::text[])", unseen
            ):
                cached[r["record"]] = r
        frontier = grow - records.keys()
    near = [p for p in near if not (p.a in records and p.b in records)]
    return records, sounds, near, mates


def _fact_pair(a: Record, b: Record) -> bool:
    """One person by a fact of the events: the same valid identity number."""
    return a.nid_valid and b.nid_valid and a.national_id == b.national_id


async def decide_persons(
    conn: asyncpg.Connection, touched: set[str], time: datetime, model: Model = DEFAULT
) -> list[Decision]:
    """The decisions that make the persons of every region ``touched`` reaches."""
    if not touched:
        return []
    found = await region(conn, touched, model)
    if found is None:
        return []
    records, sounds, near, mates = found
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
    # Every decision on pairs of the region (and its candidates outside), in one statement:
    # the latest word on each pair, how many came before, which were asked already.
    outside = sorted({x for p in near for x in (p.a, p.b)} - records.keys())
    history = await conn.fetch(
        "SELECT least(a, b) AS a, greatest(a, b) AS b, action, decided_by FROM"
        " resolution_decision WHERE a = ANY($1::text[]) AND b = ANY($1::text[])"
        " ORDER BY time DESC, decision_id DESC",
        ids + outside,
    )
    counts: dict[tuple[str, str], int] = defaultdict(int)
    latest: dict[tuple[str, str], asyncpg.Record] = {}
    asked: set[tuple[str, str]] = set()
    for r in history:
        pair = (r["a"], r["b"])
        counts[pair] += 1
        if r["action"] == "candidate":
            asked.add(pair)
        else:
            latest.setdefault(pair, r)
    decided = list(latest.values())
    by_people = [r for r in decided if not r["decided_by"].startswith("resolver/")]
    joined += [(r["a"], r["b"]) for r in by_people if r["action"] == "link"]
    rejected = [(r["a"], r["b"]) for r in by_people if r["action"] in ("reject", "unlink")]
    target = cluster(model, list(records.values()), pairs, joined, rejected, mates)
    # What joins the region now is its edges, not what the log's times say came last (an
    # event time is no order: agencies publish late): the decision edges among its records.
    linked_now = {
        (r["src"], r["dst"])
        for r in await conn.fetch(
            "SELECT src, dst FROM person_edge WHERE src = ANY($1::text[]) AND src < dst"
            " AND dst = ANY($1::text[]) AND origin LIKE 'D-%'",
            ids,  # the region's own: two records outside it (near candidates) are not its say
        )
    }
    people_pairs = {(r["a"], r["b"]) for r in by_people}
    weights = {(p.a, p.b): p for p in pairs}
    out: list[Decision] = []
    # Persons, not edges: a link of the resolver stays while its two records are one person
    # in the target (whichever pairs clustering chose to span it); it is undone only when
    # they are two; a target link is decided only where the two are not yet joined. So a
    # region that grows does not churn links it already holds.
    group = _groups(ids + outside, target | set(joined))
    undone = sorted(
        pair for pair in linked_now - people_pairs if group.get(pair[0]) != group.get(pair[1])
    )
    joined_now = _Joiner(ids + outside, (linked_now - set(undone)) | set(joined))
    for a, b in sorted(target - people_pairs):
        if not joined_now.join(a, b):
            continue
        p = weights.get((a, b)) or score(model, records[a], records[b])
        ev = _evidence(p, model)
        if (a, b) in mates and p.weight < model.link_weight:
            ev["why"] = "one case thread or its place, a name that sounds the same"
        out.append(
            Decision(
                "link",
                a,
                b,
                model.probability(p.weight),
                ev,
                DECIDER,
                time,
                seq=counts.get((a, b), 0),
            )
        )
    for a, b in undone:
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


class _Joiner:
    """Union–find over ``ids`` started from ``links``; :meth:`join` says whether two records
    were apart (and joins them)."""

    def __init__(self, ids: list[str], links: set[tuple[str, str]]) -> None:
        self.parent = {i: i for i in ids}
        for a, b in sorted(links):
            self.join(a, b)

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def join(self, a: str, b: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True


def _groups(ids: list[str], links: set[tuple[str, str]]) -> dict[str, str]:
    """Each of ``ids`` → its group (the group's smallest id), joined by the ``links`` among
    ``ids``."""
    known = set(ids)
    groups = _Joiner(ids, {(a, b) for a, b in links if a in known and b in known})
    return {i: groups.find(i) for i in ids}


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
