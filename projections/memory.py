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
    persons: dict[str, tuple[str | None, bool]] = field(default_factory=dict)
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
        for pid, (nid, valid) in ch.persons.items():
            old = self.persons.get(pid)
            self.persons[pid] = (nid, valid) if old is None else (old[0] or nid, old[1] or valid)
        for cid, t in ch.cases.items():
            self.cases[cid] = min(t, self.cases.get(cid, t))
        self.entities |= ch.entities

    def field(self, kind: str, entity_id: str, name: str) -> Any:
        f = self.fields.get((kind, entity_id, name))
        return f.value if f else None

    def members_of(self, kind: str, entity_id: str, relation: str) -> list[str]:
        return sorted(k[3] for k in self.members if k[:3] == (kind, entity_id, relation))
