"""The projection as a pure function: accepted events (in log order) + known links → rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Imported so that their handlers register (projections.registry).
from projections import case_thread, person_profile  # noqa: F401
from projections.changes import ArchivedEvent, Changes, NullChanges
from projections.coordination import handlers as _coordination  # noqa: F401
from projections.registry import HANDLERS, SUMMARIES
from projections.resolve import Resolver
from schemas.envelope import Envelope

LinkKey = tuple[str, str, str]
Links = dict[LinkKey, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Accepted:
    env: Envelope
    topic: str
    partition: int
    offset: int
    known_at: int | None = None  # ms: the log's time of the record (contract section 8)


def summarize(env: Envelope) -> str:
    fn = SUMMARIES.get(env.type)
    return fn(env) if fn else env.type


def archive_rows(events: Iterable[Accepted]) -> list[ArchivedEvent]:
    return [ArchivedEvent(a.env, a.topic, a.partition, a.offset, summarize(a.env)) for a in events]


class _RecordingResolver(Resolver):
    """A dry run that only notes which agency records the handlers look up."""

    def __init__(self, changes: Changes) -> None:
        super().__init__({}, changes)
        self.asked: set[LinkKey] = set()

    def linked(self, agency: str, kind: str, record_id: str) -> str | None:
        self.asked.add((agency, kind, record_id))
        return super().linked(agency, kind, record_id)


def links_needed(events: Iterable[Accepted]) -> set[LinkKey]:
    """The agency records whose current links the batch depends on."""
    probe = _RecordingResolver(NullChanges())
    for a in events:
        for handler in HANDLERS.get(a.env.type, ()):
            handler(a.env, probe, probe.changes)
    return probe.asked


def project(events: list[Accepted], known: Links) -> Changes:
    """Apply every handler of each event, in order. No clock, no I/O: time comes from events."""
    changes = Changes()
    resolver = Resolver(known, changes)
    for a in events:
        for handler in HANDLERS.get(a.env.type, ()):
            handler(a.env, resolver, changes)
    return changes
