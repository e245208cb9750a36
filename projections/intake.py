"""Intake: every inbound record is accepted (a valid, well-formed event of its own agency)
or rejected with a reason. Pure: no I/O, so unit tests and the worker share it."""

from __future__ import annotations

from dataclasses import dataclass

from projections.project import Accepted
from schemas.catalog import upcast, validate_data
from schemas.envelope import Envelope, Rejected, parse_envelope
from schemas.notices import parse_notice
from schemas.topics import COORDINATION_TOPIC, topic_agency

MAX_RECORD_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class InboundRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None = None  # the log's time of the record, ms: when the hub took it in


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
            rec,
            "too-large",
            f"the record is {len(value)} bytes; the limit is {MAX_RECORD_BYTES}",
            None,
            None,
        )
    env = None
    try:
        if rec.topic == COORDINATION_TOPIC:  # the hub's own notices, and nothing else
            env = parse_notice(value)
            return Accepted(env, rec.topic, rec.partition, rec.offset, rec.timestamp)
        env = parse_envelope(value, topic_agency(rec.topic), agencies)
        validate_data(env)
        env = upcast(env)
    except Rejected as exc:
        return RejectedRecord(rec, exc.reason, exc.detail, exc.field, env.id if env else None)
    return Accepted(env, rec.topic, rec.partition, rec.offset, rec.timestamp)


def reused_id(rec: InboundRecord, env: Envelope) -> RejectedRecord:
    """A copy of an event already taken in, (source, id) the same, content different: the
    contract makes ``(source, id)`` the identity of an event, so the copy is rejected."""
    return RejectedRecord(
        rec,
        "conflicting-duplicate",
        f"source {env.source!r} already sent id {env.id!r} with other content;"
        " an event id must not be reused",
        "id",
        env.id,
    )


def split(
    records: list[InboundRecord], agencies: tuple[str, ...]
) -> tuple[list[Accepted], list[RejectedRecord]]:
    """Check a batch. Accepted events keep log order. Copies of one event (same source and
    id) within the batch behave exactly as they would across batches, so that where a batch
    happens to be cut never shows: identical copies count once (the lowest log position is
    the one kept), and a copy with other content is rejected as a conflicting duplicate."""
    kept: dict[tuple[str, str], Accepted] = {}
    order: list[tuple[str, str]] = []
    rejected: list[RejectedRecord] = []
    for rec in records:
        out = check(rec, agencies)
        if isinstance(out, RejectedRecord):
            rejected.append(out)
            continue
        key = out.env.key
        prev = kept.get(key)
        if prev is None:
            kept[key] = out
            order.append(key)
        elif (prev.env.type, prev.env.raw["data"]) != (out.env.type, out.env.raw["data"]):
            rejected.append(reused_id(rec, out.env))
        elif (out.topic, out.partition, out.offset) < (prev.topic, prev.partition, prev.offset):
            kept[key] = out
    return [kept[k] for k in order], rejected
