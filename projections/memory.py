"""An in-memory read model with the same merge rules as the PostgreSQL store, for unit tests
of the pure projection (no database, no broker)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from projections.changes import Changes, FieldFact, MemberFact
from projections.project import Accepted, Links, links_needed, project


@dataclass
class InMemoryReadModel:
    archive: set[tuple[str, str]] = field(default_factory=set)
    fields: dict[tuple[str, str, str], FieldFact] = field(default_factory=dict)
    members: dict[tuple[str, str, str, str], MemberFact] = field(default_factory=dict)
    links: Links = field(default_factory=dict)
    mentions: dict[str, tuple[Any, dict[str, Any]]] = field(default_factory=dict)
    mention_places: dict[str, tuple[Any, str]] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)
    case_edges: dict[tuple[str, str], str] = field(default_factory=dict)
    cases: dict[str, datetime] = field(default_factory=dict)
    entities: set[tuple[str, str, datetime, str, str]] = field(default_factory=set)

    def apply(self, events: list[Accepted]) -> None:
        new = [a for a in events if a.env.key not in self.archive]
        self.archive |= {a.env.key for a in new}
        known = {k: self.links[k] for k in links_needed(new) if k in self.links}
        self.merge(project(new, known))

    def merge(self, ch: Changes) -> None:
        for k, f in ch.fields.items():
            cur = self.fields.get(k)
            if cur is None or f.stamp > cur.stamp:
                self.fields[k] = f
        for k, m in ch.members.items():
            cur_m = self.members.get(k)
            if cur_m is None or m.stamp < cur_m.stamp:
                self.members[k] = m
        self.links.update(ch.links)
        for rec, (stamp, facts) in ch.mentions.items():
            cur = self.mentions.get(rec)
            if cur is None or stamp > cur[0]:
                self.mentions[rec] = (stamp, facts)
        for rec, (stamp, place) in ch.mention_places.items():
            cur_p = self.mention_places.get(rec)
            if cur_p is None or stamp > cur_p[0]:
                self.mention_places[rec] = (stamp, place)
        self.edges |= {(a, b) for a, b in ch.edges} | {(b, a) for a, b in ch.edges}
        for k, origin in ch.case_edges.items():
            self.case_edges[k] = min(origin, self.case_edges.get(k, origin))
        for cid, t in ch.cases.items():
            self.cases[cid] = min(t, self.cases.get(cid, t))
        self.entities |= ch.entities

    def field(self, kind: str, entity_id: str, name: str) -> Any:
        f = self.fields.get((kind, entity_id, name))
        return f.value if f else None

    def members_of(self, kind: str, entity_id: str, relation: str) -> list[str]:
        return sorted(k[3] for k in self.members if k[:3] == (kind, entity_id, relation))

    def component(self, node: str) -> set[str]:
        """The nodes joined to ``node`` (the hub person it belongs to)."""
        seen, todo = {node}, [node]
        while todo:
            n = todo.pop()
            for a, b in self.edges:
                if a == n and b not in seen:
                    seen.add(b)
                    todo.append(b)
        return seen
