"""The archive's hash chains, written in the batch transaction (:func:`projections.rows.archive`).

Each new event is chained at the end of its partition's chain (``topic/partition``, offset
order): the positions of the batch's partitions are locked by the batch, so no other
transaction extends these chains meanwhile. Which events are new is asked before the
insert; an event a concurrent batch of another partition archived in between (the same
``(source, id)`` in two partitions) makes the insert disagree, and the batch is retried."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from projections.chain import archive_chain, archive_values, link, normalized
from projections.changes import ArchivedEvent


class ChainRace(RuntimeError):
    """An event expected new was archived meanwhile by another batch: apply the batch again."""


@dataclass
class ChainLinks:
    n: int
    chain: list[str | None] = field(default_factory=list)
    seq: list[int | None] = field(default_factory=list)
    prev: list[bytes | None] = field(default_factory=list)
    hash: list[bytes | None] = field(default_factory=list)
    expected: set[tuple[str, str]] = field(default_factory=set)
    heads: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    def columns(self) -> tuple[list[Any], ...]:
        return self.chain, self.seq, self.prev, self.hash

    async def commit(self, conn: asyncpg.Connection, inserted: set[tuple[str, str]]) -> None:
        if inserted != self.expected:
            raise ChainRace(f"{len(self.expected ^ inserted)} events archived meanwhile")
        if not self.heads:
            return
        items = sorted(self.heads.items())
        await conn.execute(
            "INSERT INTO archive_chain_head AS h (chain, seq, hash)"
            " SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])"
            " ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            [k for k, _ in items],
            [v[0] for _, v in items],
            [v[1] for _, v in items],
        )


def event_values(a: ArchivedEvent, chain: str) -> list[Any]:
    e = a.env
    return archive_values(
        chain, a.offset, e.source, e.id, e.type, e.agency, e.time, e.subject,
        e.schema_version, normalized(e.raw["data"]), a.summary,
    )  # fmt: skip


async def chain_links(conn: asyncpg.Connection, rows: Sequence[ArchivedEvent]) -> ChainLinks:
    """The chain columns of ``rows`` (None for events already archived)."""
    out = ChainLinks(len(rows))
    existing = await conn.fetch(
        "SELECT source, event_id FROM event_archive"
        " WHERE (source, event_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        [a.env.source for a in rows],
        [a.env.id for a in rows],
    )
    seen = {(r["source"], r["event_id"]) for r in existing}
    new: list[int] = []
    for i, a in enumerate(rows):
        if a.env.key not in seen:
            seen.add(a.env.key)
            out.expected.add(a.env.key)
            new.append(i)
    out.chain = [None] * len(rows)
    out.seq = [None] * len(rows)
    out.prev = [None] * len(rows)
    out.hash = [None] * len(rows)
    if not new:
        return out
    chains = sorted({archive_chain(rows[i].topic, rows[i].partition) for i in new})
    heads = await conn.fetch(
        "SELECT chain, seq, hash FROM archive_chain_head WHERE chain = ANY($1::text[])", chains
    )
    state = {r["chain"]: (r["seq"], bytes(r["hash"])) for r in heads}
    new.sort(key=lambda i: (rows[i].topic, rows[i].partition, rows[i].offset))
    for i in new:
        a = rows[i]
        name = archive_chain(a.topic, a.partition)
        seq, prev = state.get(name, (0, bytes(32)))
        seq += 1
        h = link(prev, seq, event_values(a, name))
        out.chain[i], out.seq[i], out.prev[i], out.hash[i] = name, seq, prev, h
        state[name] = (seq, h)
    out.heads = {c: state[c] for c in chains}
    return out
