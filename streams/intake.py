"""Intake: every inbound record is accepted (a valid, well-formed event of its own agency)
or rejected with a reason. Pure: no I/O, so unit tests and the worker share it."""

from __future__ import annotations

from dataclasses import dataclass

from hub.config import topic_agency
from projections.project import Accepted
from schemas.catalog import upcast, validate_data
from schemas.envelope import Rejected, parse_envelope

MAX_RECORD_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class InboundRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    record: InboundRecord
    reason: str
    detail: str
    field: str | None
    event_id: str | None


def check(rec: InboundRecord, agencies: tuple[str, ...]) -> Accepted | RejectedRecord:
    value = rec.value
    if value is None or len(value) == 0:
        return RejectedRecord(rec, "empty-record", "the record has no value", None, None)
    if len(value) > MAX_RECORD_BYTES:
        return RejectedRecord(
            rec, "too-large", f"the record is {len(value)} bytes; the limit is {MAX_RECORD_BYTES}",
            None, None,
        )
    env = None
    try:
        env = parse_envelope(value, topic_agency(rec.topic), agencies)
        validate_data(env)
        env = upcast(env)
    except Rejected as exc:
        return RejectedRecord(rec, exc.reason, exc.detail, exc.field, env.id if env else None)
    return Accepted(env, rec.topic, rec.partition, rec.offset)


def split(records: list[InboundRecord], agencies: tuple[str, ...]
          ) -> tuple[list[Accepted], list[RejectedRecord]]:
    """Check a batch. Accepted events keep log order; an event's second copy within the batch
    (same source and id) is dropped here, and copies across batches by the archive."""
    accepted: list[Accepted] = []
    rejected: list[RejectedRecord] = []
    seen: set[tuple[str, str]] = set()
    for rec in records:
        out = check(rec, agencies)
        if isinstance(out, RejectedRecord):
            rejected.append(out)
        elif out.env.key not in seen:
            seen.add(out.env.key)
            accepted.append(out)
    return accepted, rejected
