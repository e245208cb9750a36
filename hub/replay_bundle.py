"""An investigation's export (contract section 8, ``POST /v1/replay/exports``): the events as
the hub received and archived them, the chronology built from them, the audit rows of the
reads in it, and the proofs that none was altered, checkable offline by
``civic-hub replay verify FILE`` (:mod:`hub.bundle_verify`).

The proofs rest on the hash chains and their signed checkpoints (:mod:`projections.chain`,
:mod:`hub.checkpoints`). A row of a linear chain is proven by relinking the chain from that
row up to a signed checkpoint: the export first signs every chain's head, then, in one
snapshot, groups the rows it carries by the first checkpoint at or after each, and for each
group gives a *segment*: the ``prev_hash`` of its first row, the digest of every row in it
the bundle does not carry in full (``null`` where it does: the verifier recomputes those from
the content), and the checkpoint. Segments stop at the first checkpoint after their rows, so
a bundle grows with the checkpoints' interval, not with the chains' length. The hub also
signs the whole bundle (its ``seal``), so a row removed together with its chronology item
is found too. Content the reader may not see is carried as a digest only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub import chronology as chrono
from hub.audit import audit_values
from hub.checkpoints import ARCHIVE_PREFIX, AUDIT_CHAIN, key_id, read_checkpoints
from hub.policy import Policy
from hub.tokens import Principal
from projections.chain import archive_values, canonical, digest, normalized

FORMAT = "civic-hub replay bundle v1"
NOT_COVERED = (
    "known_at of an event is the log's time, kept beside its archive row and outside the"
    " row's hash: the seal covers it as exported, the chain does not",
    "content the reader may not see is carried as a digest: its item is proven to be there,"
    " not what it says",
    "what an agency recorded but never sent to the hub is in no chain",
)
SEAL = "civic-hub replay bundle seal v1"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def event_digest(content: dict[str, Any]) -> bytes:
    """An archive row's content digest, from the bundle's ``content`` (as the chain has it)."""
    c = content
    return digest(
        archive_values(
            c["chain"],
            c["offset"],
            c["source"],
            c["event_id"],
            c["type"],
            c["agency"],
            parse_time(c["time"]),
            c["subject"],
            c["version"],
            normalized(c["data"]),
            c["summary"],
        )
    )


def audit_digest(content: dict[str, Any]) -> bytes:
    return digest(audit_values(parse_time(content["at"]), content))


def seal_message(bundle: dict[str, Any]) -> bytes:
    """What the seal signs: the bundle without its seal, canonical, hashed."""
    body = {k: v for k, v in bundle.items() if k != "seal"}
    return canonical([SEAL, digest([body]).hex()])


@dataclass(frozen=True)
class Request:
    persons: list[str]
    cases: list[str]
    places: list[str]
    start: datetime | None
    end: datetime | None


def _hex(b: bytes | None) -> str | None:
    return None if b is None else bytes(b).hex()


def _graded(policy: Policy, principal: Principal, r: dict[str, Any]) -> bool:
    hides = policy.secret_roles is not None and principal.role not in policy.secret_roles
    return hides and chrono.has_secret(r["type"], r["version"], r["data"])


def _event_entries(
    c: chrono.Chronology, policy: Policy, principal: Principal
) -> list[dict[str, Any]]:
    out = []
    for r in c.events:
        withheld = (
            "policy" if r["withheld"] else "graded" if _graded(policy, principal, r) else None
        )
        out.append(
            {
                "ref": chrono.event_ref(r),
                "chain": ARCHIVE_PREFIX + r["chain"] if r["chain"] else None,
                "seq": r["chain_seq"],
                "known_at": chrono.iso(r["known_at"]),
                "prev_hash": _hex(r["prev_hash"]),
                "hash": _hex(r["hash"]),
                "withheld": withheld,
                "content": None if withheld else chrono.archive_content(r),
            }
        )
    return out


def _audit_entries(c: chrono.Chronology) -> list[dict[str, Any]]:
    return [
        {
            "ref": chrono.audit_ref(r),
            "chain": AUDIT_CHAIN if r["seq"] is not None else None,
            "seq": r["seq"],
            "prev_hash": _hex(r["prev_hash"]),
            "hash": _hex(r["hash"]),
            "withheld": "policy" if r["withheld"] else "subjects" if r["subjects_hidden"] else None,
            "content": None if r["withheld"] or r["subjects_hidden"] else chrono.audit_content(r),
        }
        for r in c.reads
    ]


Stored = tuple[int, bytes | None, Callable[[], bytes]]  # seq, prev_hash, its digest


async def _audit_rows(conn: asyncpg.Connection, lo: int, hi: int) -> list[Stored]:
    rows = await conn.fetch(
        "SELECT seq, prev_hash, at, user_name, agency, role, client, method, path, purpose,"
        " subject_ids, outcome, case_ref FROM audit_log WHERE seq BETWEEN $1 AND $2"
        " ORDER BY seq",
        lo,
        hi,
    )
    return [(r["seq"], r["prev_hash"], lambda r=r: digest(audit_values(r["at"], r))) for r in rows]


async def _archive_rows(
    conn: asyncpg.Connection, ranges: list[tuple[str, int, int]]
) -> dict[str, list[Stored]]:
    """The rows of every archive segment, in one pass over the archive (no index leads with
    the chain: 050_audit_chain.sql made none, and migrations before it cannot)."""
    if not ranges:
        return {}
    rows = await conn.fetch(
        "SELECT a.chain, a.chain_seq AS seq, a.prev_hash, a.chain_offset, a.source, a.event_id,"
        " a.type, a.agency, a.time, a.subject, a.version, a.data, a.summary"
        " FROM event_archive a JOIN unnest($1::text[], $2::bigint[], $3::bigint[]) AS r(c, lo, hi)"
        " ON a.chain = r.c AND a.chain_seq BETWEEN r.lo AND r.hi ORDER BY a.chain, a.chain_seq",
        [c[len(ARCHIVE_PREFIX) :] for c, _, _ in ranges],
        [lo for _, lo, _ in ranges],
        [hi for _, _, hi in ranges],
    )
    out: dict[str, list[Stored]] = defaultdict(list)
    for r in rows:
        values = (
            r["chain"],
            r["chain_offset"],
            r["source"],
            r["event_id"],
            r["type"],
            r["agency"],
            r["time"],
            r["subject"],
            r["version"],
        )
        out[ARCHIVE_PREFIX + r["chain"]].append(
            (
                r["seq"],
                r["prev_hash"],
                lambda v=values, r=r: digest(
                    archive_values(*v, normalized(r["data"]), r["summary"])
                ),
            )
        )
    return out


async def _proofs(
    conn: asyncpg.Connection, entries: list[dict[str, Any]], advance: Callable[[int], None]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The segments proving ``entries`` against their first checkpoint; and the refs of the
    rows no checkpoint covers yet (or outside any chain)."""
    points: dict[str, list[Any]] = defaultdict(list)
    for cp in await read_checkpoints(conn):
        points[cp.chain].append(cp)
    by_chain: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    unproven = []
    for e in entries:
        if e["chain"] is None:
            unproven.append(e["ref"])
        else:
            by_chain[e["chain"]][e["seq"]] = e
    wanted: list[tuple[str, int, Any]] = []  # chain, first seq, checkpoint
    for chain, rows in sorted(by_chain.items()):
        cps = sorted(points.get(chain, []), key=lambda cp: (cp.last_seq, cp.id))
        groups: dict[int, list[int]] = defaultdict(list)
        for seq in sorted(rows):
            i = next((k for k, cp in enumerate(cps) if cp.last_seq >= seq), None)
            if i is None:
                unproven.append(rows[seq]["ref"])
            else:
                groups[i].append(seq)
        wanted += [(chain, seqs[0], cps[i]) for i, seqs in sorted(groups.items())]
    archive = await _archive_rows(
        conn, [(c, lo, cp.last_seq) for c, lo, cp in wanted if c != AUDIT_CHAIN]
    )
    segments = []
    for chain, lo, cp in wanted:
        if chain == AUDIT_CHAIN:
            stored = await _audit_rows(conn, lo, cp.last_seq)
        else:
            stored = [s for s in archive[chain] if lo <= s[0] <= cp.last_seq]
        rows = by_chain[chain]
        digests = [
            None if seq in rows and rows[seq]["content"] is not None else d().hex()
            for seq, _, d in stored
        ]
        advance(len(stored))
        segments.append(
            {
                "chain": chain,
                "from_seq": lo,
                "to_seq": cp.last_seq,
                "prev_hash": _hex(stored[0][1]) if stored else None,
                "digests": digests,
                "checkpoint": {
                    "id": cp.id,
                    "last_seq": cp.last_seq,
                    "last_hash": cp.last_hash.hex(),
                    "at": chrono.iso(cp.at),
                    "key_id": cp.key_id,
                    "signature": cp.signature.hex(),
                },
            }
        )
    return segments, unproven


async def build_bundle(
    conn: asyncpg.Connection,
    key: Ed25519PrivateKey,
    policy: Policy,
    principal: Principal,
    made: dict[str, Any],
    request: Request,
    tz: str,
    advance: Callable[[int], None] = lambda n: None,
) -> tuple[dict[str, Any], chrono.Chronology]:
    """The bundle, read in ``conn``'s snapshot (sign the chains' heads before it begins)."""
    c = await chrono.build(
        conn,
        policy,
        principal,
        request.persons,
        request.cases,
        request.places,
        request.start,
        request.end,
        tz,
    )
    advance(len(c.items))
    events, audit = _event_entries(c, policy, principal), _audit_entries(c)
    segments, unproven = await _proofs(conn, [*events, *audit], advance)
    public = key.public_key()
    bundle: dict[str, Any] = {
        "format": FORMAT,
        "made": {**made, "at": chrono.iso(datetime.now(UTC))},
        "request": {
            "persons": request.persons,
            "cases": request.cases,
            "places": request.places,
            "from": chrono.iso(request.start),
            "to": chrono.iso(request.end),
        },
        "timezone": tz,
        "chronology": c.answer(),
        "events": events,
        "audit": audit,
        "proofs": {
            "public_key": {
                "key_id": key_id(public),
                "pem": public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                ).decode(),
            },
            "segments": segments,
            "unproven": sorted(unproven),
            "not_covered": list(NOT_COVERED),
        },
    }
    bundle["seal"] = {"key_id": key_id(public), "signature": key.sign(seal_message(bundle)).hex()}
    return bundle, c
