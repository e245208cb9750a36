"""Scored pairs of a region to persons, so that arrival order never shows.

:func:`cluster` depends only on the records, their scores, the case threads they appear in
and the people's own decisions, never on the order they came in: strongest links first
(ties broken by record ids), never joining two different valid identity numbers, never
joining groups that hold a pair scored as clearly different people, never across a pair a
person rejected. Then thread mates: records of one case thread that name a person the same
way (a grid member's note of a party by name alone, the police record of the same party
with an identity number) are one person when the groups they reach could all be that one
person: no two valid identity numbers, no two birth dates, no rejection, no veto.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from projections.matching import Model, Record, Scored, trusted_nid


def _close_dates(a: str, b: str) -> bool:
    """One birth date written two ways: the same, day and month swapped, or one digit off."""
    if a == b:
        return True
    pa, pb = a.split("-"), b.split("-")
    if len(pa) == len(pb) == 3 and pa[0] == pb[0] and (pa[1], pa[2]) == (pb[2], pb[1]):
        return True
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1


def _one_birth(births: set[str]) -> bool:
    bs = sorted(births)
    return all(_close_dates(a, b) for i, a in enumerate(bs) for b in bs[i + 1 :])


class _Groups:
    """Union–find over records, each group remembering its valid identity numbers and its
    birth dates."""

    def __init__(self, records: Iterable[Record]) -> None:
        self.parent: dict[str, str] = {}
        self.nids: dict[str, set[str]] = {}
        self.members: dict[str, list[str]] = {}
        self.births: dict[str, set[str]] = {}
        for r in records:
            self.births[r.record] = {r.birth_date} if r.birth_date else set()
            self.parent[r.record] = r.record
            nid = trusted_nid(r)
            self.nids[r.record] = {nid} if nid else set()
            self.members[r.record] = [r.record]

    def find(self, x: str) -> str:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = sorted((self.find(a), self.find(b)))
        self.parent[rb] = ra
        self.nids[ra] |= self.nids.pop(rb)
        self.births[ra] |= self.births.pop(rb)
        self.members[ra] += self.members.pop(rb)


def cluster(
    model: Model,
    records: Sequence[Record],
    pairs: Sequence[Scored],
    joined: Iterable[tuple[str, str]] = (),
    rejected: Iterable[tuple[str, str]] = (),
    mates: Iterable[tuple[str, str]] = (),
) -> set[tuple[str, str]]:
    """The links (record pairs, smaller id first) that make the persons of a region.

    ``pairs`` are the scored pairs among ``records`` that blocking found; ``joined`` are
    pairs already one person by fact (the same valid identity number) or by a person's
    confirmation; ``rejected`` pairs a person said are two people; ``mates`` are pairs of
    records in one case thread with a name that sounds the same. The answer is a function
    of these sets alone: every order of arrival gives the same links."""
    groups = _Groups(records)
    for a, b in sorted(joined):
        if a in groups.parent and b in groups.parent:
            groups.union(a, b)
    no = {tuple(sorted(p)) for p in rejected}
    by_pair = {(p.a, p.b): p.weight for p in pairs}
    links: set[tuple[str, str]] = set()
    strong = sorted(
        (p for p in pairs if p.weight >= model.link_weight), key=lambda p: (-p.weight, p.a, p.b)
    )
    for p in strong:
        ga, gb = groups.find(p.a), groups.find(p.b)
        if ga == gb:
            continue
        if groups.nids[ga] and groups.nids[gb] and groups.nids[ga] != groups.nids[gb]:
            continue  # two valid, different identity numbers: two people
        cross = [
            (x, y) if x < y else (y, x) for x in groups.members[ga] for y in groups.members[gb]
        ]
        if any(c in no for c in cross):
            continue
        if any(by_pair.get(c, 0.0) < model.veto_below for c in cross):
            continue  # someone in one group is clearly not someone in the other
        groups.union(p.a, p.b)
        links.add((p.a, p.b))
    _join_mates(groups, mates, no, by_pair, model, links)
    return links


def _join_mates(
    groups: _Groups,
    mates: Iterable[tuple[str, str]],
    no: set[tuple[str, ...]],
    by_pair: dict[tuple[str, str], float],
    model: Model,
    links: set[tuple[str, str]],
) -> None:
    """Each record with thread mates joins the groups of all of them, when they could all
    be one person; when two of them cannot (two identity numbers, two birth dates that are
    not one date written two ways: two people of one name in one matter), none is joined
    by the thread."""
    of: dict[str, set[str]] = defaultdict(set)
    for a, b in mates:
        if a in groups.parent and b in groups.parent and a != b:
            of[a].add(b)
            of[b].add(a)
    for x in sorted(of):
        reach = sorted({groups.find(y) for y in of[x] | {x}})
        if len(reach) < 2:
            continue
        nids = set().union(*(groups.nids[g] for g in reach))
        births = set().union(*(groups.births[g] for g in reach))
        if len(nids) > 1 or not _one_birth(births):
            continue
        members = [(g, m) for g in reach for m in groups.members[g]]
        cross = [(a, b) if a < b else (b, a) for ga, a in members for gb, b in members if ga < gb]
        if any(c in no or by_pair.get(c, 0.0) < model.veto_below for c in cross):
            continue
        for y in sorted(of[x]):
            gx, gy = groups.find(x), groups.find(y)
            if gx != gy:
                groups.union(x, y)
                links.add((x, y) if x < y else (y, x))
