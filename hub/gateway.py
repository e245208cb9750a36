"""The HTTP gateway's core: check a batch of CloudEvents from one agency, send the new ones to
that agency's topic, and answer only once the broker has them (acks=all).

All or nothing: if any event of a batch is rejected, none is sent and every rejection is
returned with its reason, so an agency can fix and resend the whole batch; resending is
safe because ``(source, id)`` already sent is recognised and not sent again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from schemas.catalog import validate_data
from schemas.envelope import Envelope, Rejected, check_envelope
from schemas.topics import agency_topic

MAX_BATCH = 5000


@dataclass
class EventError:
    index: int
    id: str | None
    reason: str
    field: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "id": self.id,
            "reason": self.reason,
            "field": self.field,
            "detail": self.detail,
        }


@dataclass
class Outcome:
    errors: list[EventError] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    positions: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def min_offset(self) -> str | None:
        """A token for read-your-writes: the next offset per partition the reads must reach."""
        if not self.positions:
            return None
        return ",".join(f"{t}:{p}:{o}" for (t, p), o in sorted(self.positions.items()))


def check_batch(
    docs: list[Any], agency: str, agencies: tuple[str, ...]
) -> tuple[list[Envelope], list[EventError]]:
    envs: list[Envelope] = []
    errors: list[EventError] = []
    for i, doc in enumerate(docs):
        try:
            env = check_envelope(doc, agency, agencies)
            validate_data(env)
            envs.append(env)
        except Rejected as exc:
            eid = doc.get("id") if isinstance(doc, dict) else None
            errors.append(
                EventError(
                    i, eid if isinstance(eid, str) else None, exc.reason, exc.field, exc.detail
                )
            )
    return envs, errors


class Gateway:
    def __init__(
        self, pool: asyncpg.Pool, producer: AIOKafkaProducer, agencies: tuple[str, ...]
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.agencies = agencies
        self.partitioner = DefaultPartitioner()

    async def submit(self, docs: list[Any], agency: str) -> Outcome:
        out = Outcome()
        envs, out.errors = check_batch(docs, agency, self.agencies)
        if out.errors:
            return out
        unique: dict[tuple[str, str], Envelope] = {}
        for env in envs:
            unique.setdefault(env.key, env)
        out.duplicates = len(envs) - len(unique)
        topic = agency_topic(agency)
        async with self.pool.acquire() as conn, conn.transaction():
            # Claim the keys; a concurrent request with the same key waits on the row lock
            # and then sees it taken. The claim commits only after the broker acknowledged.
            keys = list(unique)
            claimed = await conn.fetch(
                "INSERT INTO gateway_seen (source, event_id, topic)"
                " SELECT s, i, $3 FROM unnest($1::text[], $2::text[]) AS x(s, i)"
                " ON CONFLICT DO NOTHING RETURNING source, event_id",
                [k[0] for k in keys],
                [k[1] for k in keys],
                topic,
            )
            fresh = [unique[(r["source"], r["event_id"])] for r in claimed]
            out.duplicates += len(unique) - len(fresh)
            if not fresh:
                return out
            placed = await self._send(topic, fresh)
        for env, p, o in placed:
            out.accepted.append({"id": env.id, "source": env.source, "partition": p, "offset": o})
            out.positions[(topic, p)] = max(out.positions.get((topic, p), 0), o + 1)
        return out

    async def _send(self, topic: str, envs: list[Envelope]) -> list[tuple[Envelope, int, int]]:
        """Send per partition in record batches; returns (event, partition, offset)."""
        partitions = sorted(await self.producer.partitions_for(topic))
        by_partition: dict[int, list[tuple[Envelope, bytes, bytes]]] = {}
        for env in envs:
            key = env.subject.encode()
            p = self.partitioner(key, partitions, partitions)
            by_partition.setdefault(p, []).append((env, key, orjson.dumps(env.raw)))
        sends = []
        for p, items in by_partition.items():
            batch = self.producer.create_batch()
            members: list[Envelope] = []
            for env, key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    sends.append(
                        (p, members, await self.producer.send_batch(batch, topic, partition=p))
                    )
                    batch, members = self.producer.create_batch(), []
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"event {env.id} is larger than a record batch")
                members.append(env)
            sends.append((p, members, await self.producer.send_batch(batch, topic, partition=p)))
        placed: list[tuple[Envelope, int, int]] = []
        results = await asyncio.gather(*(fut for _, _, fut in sends))
        for (p, members, _), md in zip(sends, results, strict=True):
            # A batch's records get consecutive offsets from the batch's base offset.
            placed.extend((env, p, md.offset + i) for i, env in enumerate(members))
        return placed
