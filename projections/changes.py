"""The rows a batch of events produces, collected by pure handlers and written in one go.

Handlers never touch the database: they add facts here, and :mod:`projections.store`
merges them with multi-row upserts. Facts merge the same way whatever order they arrive
in (last writer wins by event time for fields, earliest statement for set members), so
the live path, a restart after a crash and a clean rebuild all end in the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.envelope import Envelope

Stamp = tuple[datetime, str, str]  # (event time, source, event id): a total order


@dataclass(slots=True)
class FieldFact:
    value: Any
    stamp: Stamp
    agency: str


@dataclass(slots=True)
class MemberFact:
    attrs: dict[str, Any]
    stamp: Stamp
    agency: str


@dataclass(slots=True)
class ArchivedEvent:
    env: Envelope
    topic: str
    partition: int
    offset: int
    summary: str


@dataclass
class Changes:
    archive: list[ArchivedEvent] = field(default_factory=list)
    entities: set[tuple[str, str, datetime, str, str]] = field(default_factory=set)
    fields: dict[tuple[str, str, str], FieldFact] = field(default_factory=dict)
    members: dict[tuple[str, str, str, str], MemberFact] = field(default_factory=dict)
    links: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)
    mentions: dict[str, tuple[Stamp, dict[str, Any]]] = field(default_factory=dict)
    mention_places: dict[str, tuple[Stamp, str]] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)
    case_edges: dict[tuple[str, str], str] = field(default_factory=dict)
    cases: dict[str, datetime] = field(default_factory=dict)

    def touch(self, env: Envelope, kind: str, entity_id: str) -> None:
        self.entities.add((kind, entity_id, *env.stamp))

    def set_field(self, env: Envelope, kind: str, entity_id: str, name: str, value: Any) -> None:
        """State a scalar fact; the latest event (by time, then source and id) wins."""
        key = (kind, entity_id, name)
        cur = self.fields.get(key)
        if cur is None or env.stamp > cur.stamp:
            self.fields[key] = FieldFact(value, env.stamp, env.agency)

    def add_member(
        self,
        env: Envelope,
        kind: str,
        entity_id: str,
        relation: str,
        member: str,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        """State a set member; the earliest statement is kept, with its provenance."""
        key = (kind, entity_id, relation, member)
        cur = self.members.get(key)
        if cur is None or env.stamp < cur.stamp:
            self.members[key] = MemberFact(attrs or {}, env.stamp, env.agency)

    def link(
        self, agency: str, kind: str, record_id: str, entity_kind: str, entity_id: str
    ) -> None:
        self.links[(agency, kind, record_id)] = (entity_kind, entity_id)

    def mention(self, env: Envelope, record: str, **facts: Any) -> None:
        """What this record says of its person now (the latest statement wins)."""
        cur = self.mentions.get(record)
        if cur is None or env.stamp > cur[0]:
            self.mentions[record] = (env.stamp, facts)

    def mention_place(self, env: Envelope, record: str, place_id: str) -> None:
        cur = self.mention_places.get(record)
        if cur is None or env.stamp > cur[0]:
            self.mention_places[record] = (env.stamp, place_id)

    def edge(self, a: str, b: str) -> None:
        """Two nodes are the same person (a fact of the event, e.g. one identity number)."""
        self.edges.add((a, b))

    def case_edge(self, env: Envelope, a: str, b: str) -> None:
        """Two case nodes are one matter (an agency's ref says so)."""
        key = (min(a, b), max(a, b))
        cur = self.case_edges.get(key)
        if cur is None or env.id < cur:
            self.case_edges[key] = env.id

    def add_case(self, case_id: str, opened_at: datetime) -> None:
        cur = self.cases.get(case_id)
        if cur is None or opened_at < cur:
            self.cases[case_id] = opened_at


class NullChanges(Changes):
    """Takes every fact and keeps none: for a dry run that only wants the lookups."""

    def touch(self, env: Envelope, kind: str, entity_id: str) -> None:
        pass

    def set_field(self, env: Envelope, kind: str, entity_id: str, name: str, value: Any) -> None:
        pass

    def add_member(
        self,
        env: Envelope,
        kind: str,
        entity_id: str,
        relation: str,
        member: str,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        pass

    def mention(self, env: Envelope, record: str, **facts: Any) -> None:
        pass

    def mention_place(self, env: Envelope, record: str, place_id: str) -> None:
        pass

    def edge(self, a: str, b: str) -> None:
        pass

    def case_edge(self, env: Envelope, a: str, b: str) -> None:
        pass

    def add_case(self, case_id: str, opened_at: datetime) -> None:
        pass
