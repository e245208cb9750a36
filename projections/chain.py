"""Hash chains: rows that prove their order and content.

Each chained row stores its place in its chain (``seq``, 1, 2, …), the hash of the row
before it (``prev_hash``; 32 zero bytes before the first) and its own hash::

    hash = SHA-256(prev_hash || seq (8 bytes, big-endian) || SHA-256(canonical content))

The canonical content is the row's values as a JSON array (orjson, keys sorted), times in
UTC ISO form, numbers as JSON gives them back after a trip through ``jsonb`` (an integral
float and the integer PostgreSQL prints for it are the same number). The writer and the
verifier compute it from the same values, the verifier from what the database holds.

The archive is chained per partition of the log it was read from (``topic/partition``), in
offset order, so a rebuild from the log makes the same chains; the audit log is one chain
in commit order (:mod:`hub.audit`). :func:`first_break` walks a chain and names the first
row altered, deleted, inserted or out of order."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS = bytes(32)
_U64 = 2**64
_I64 = 2**63


def _number(x: float) -> float | int:
    return int(x) if x.is_integer() and -_I64 <= x < _U64 else x


def normalized(data: Any) -> Any:
    """JSON data as ``jsonb`` gives it back: a copy, integral floats as integers. Without
    recursion (agency data nests as deep as the intake lets it)."""
    copy = orjson.loads(orjson.dumps(data))
    if isinstance(copy, float):
        return _number(copy)
    stack = [copy]
    while stack:
        c = stack.pop()
        for k, v in c.items() if isinstance(c, dict) else enumerate(c):
            if isinstance(v, float):
                c[k] = _number(v)
            elif isinstance(v, dict | list):
                stack.append(v)
    return copy


def _default(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(UTC).isoformat()
    raise TypeError(f"not canonical: {type(v).__name__}")


def canonical(values: Sequence[Any]) -> bytes:
    """The bytes a row's content is hashed as (times as UTC ISO text)."""
    return orjson.dumps(
        [v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v for v in values],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME,
        default=_default,
    )


def digest(values: Sequence[Any]) -> bytes:
    """SHA-256 of a row's content (everything but its place in the chain)."""
    return hashlib.sha256(canonical(values)).digest()


def link(prev_hash: bytes, seq: int, values: Sequence[Any] | bytes) -> bytes:
    """The row's hash: SHA-256(prev_hash || seq as 8 bytes big-endian || digest(values)), the
    same as PostgreSQL's ``sha256(prev || int8send(seq) || digest)`` (:mod:`hub.audit`)."""
    d = values if isinstance(values, bytes) else digest(values)
    return hashlib.sha256(prev_hash + seq.to_bytes(8, "big", signed=True) + d).digest()


# -- the archive: one chain per (topic, partition), in offset order ---------------------------


def archive_chain(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


def archive_values(
    chain: str,
    offset: int,
    source: str,
    event_id: str,
    type_: str,
    agency: str,
    time: datetime,
    subject: str,
    version: int,
    data: Any,
    summary: str,
) -> list[Any]:
    """What an archive row's hash covers. Not its current position columns: the archive
    moves an event to the lowest log position of its copies; the chain keeps where it was
    first archived (``chain``, ``chain_offset``)."""
    return [chain, offset, source, event_id, type_, agency, time, subject, version, data,
            summary]  # fmt: skip


# -- walking a chain -----------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One stored row of a chain, in the order it was written (id or log offset)."""

    label: str  # how a person finds the row: "id 42", "agency.civil/0 offset 17 (src, id)"
    seq: int | None
    prev_hash: bytes | None
    hash: bytes | None
    values: list[Any]


@dataclass(frozen=True)
class Break:
    chain: str
    kind: str  # altered | deleted | inserted | reordered
    row: str
    detail: str

    def __str__(self) -> str:
        return f"{self.chain}: {self.kind} at {self.row}: {self.detail}"


class Walk:
    """One chain walked row by row in the order it was written (id, or log offset): the
    first row not where and what the chain says is a :class:`Break`. ``seqs`` counts every
    seq in the chain (tells a row moved from a row deleted, an extra row from a changed
    one); ``head``, the chain's recorded last (seq, hash), finds its end cut or extended."""

    def __init__(
        self, chain: str, seqs: Counter[int], head: tuple[int, bytes] | None = None
    ) -> None:
        self.chain, self.seqs, self.head = chain, seqs, head
        self.expected, self.prev = 1, GENESIS
        self.hashes: dict[int, bytes] = {}  # seq → hash of the rows walked

    def _break(self, kind: str, r: Link, detail: str) -> Break:
        return Break(self.chain, kind, r.label, detail)

    def step(self, r: Link) -> Break | None:
        if r.seq is None or r.prev_hash is None or r.hash is None:
            return self._break("inserted", r, "a row outside the chain")
        if self.head is not None and r.seq > self.head[0]:
            return self._break("inserted", r, f"seq {r.seq} is beyond the head ({self.head[0]})")
        if r.seq < self.expected:
            return self._break("inserted", r, f"seq {r.seq} again (expected {self.expected})")
        if r.seq > self.expected:
            if self.seqs[self.expected]:
                why = f"holds seq {r.seq} where seq {self.expected} belongs (found later)"
                return self._break("reordered", r, why)
            gap = f"seq {self.expected}" + (f"–{r.seq - 1}" if r.seq - 1 > self.expected else "")
            return self._break("deleted", r, f"{gap} missing before this row")
        if link(r.prev_hash, r.seq, r.values) != r.hash:
            if self.seqs[r.seq] > 1:
                return self._break("inserted", r, f"a second row claims seq {r.seq}")
            return self._break("altered", r, "its content does not match its hash")
        if r.prev_hash != self.prev:
            why = "its link to the row before does not match (replaced or re-chained)"
            return self._break("altered", r, why)
        self.expected, self.prev = r.seq + 1, r.hash
        self.hashes[r.seq] = r.hash
        return None

    def end(self) -> Break | None:
        last = self.expected - 1
        if self.head is None or (last, self.prev) == self.head:
            return None
        end = Link("the end of the chain", None, None, None, [])
        if self.head[0] > last:
            why = f"seq {last + 1}–{self.head[0]} missing: the head records seq {self.head[0]}"
            return self._break("deleted", end, why)
        return self._break("altered", end, f"the head's hash is not seq {last}'s")


def first_break(
    chain: str, rows: Iterable[Link], head: tuple[int, bytes] | None = None
) -> Break | None:
    rows = list(rows)
    walk = Walk(chain, Counter(r.seq for r in rows if r.seq is not None), head)
    for r in rows:
        if found := walk.step(r):
            return found
    return walk.end()
