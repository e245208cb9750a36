"""``civic-hub audit verify``: the audit log and the event archive checked end to end.

Both chains are walked in the order they were written (the audit by id, each archive
partition by log offset) in one snapshot, every hash recomputed from the stored content;
the first row altered, deleted, inserted or out of order is named with its chain. Every
signed checkpoint must verify with the public key and still match its chain's row."""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.audit import audit_values
from hub.checkpoints import (
    ARCHIVE_PREFIX,
    AUDIT_CHAIN,
    Checkpoint,
    key_id,
    load_public_key,
    load_signing_key,
    read_checkpoints,
)
from hub.config import Settings
from hub.progress import progress
from projections.chain import Break, Link, Walk, archive_values, normalized
from projections.db import create_pool

PAGE = 5000


@dataclass
class Report:
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    breaks: list[Break] = field(default_factory=list)
    checkpoints: int = 0
    key_id: str = ""

    @property
    def intact(self) -> bool:
        return not self.breaks


def _audit_link(r: asyncpg.Record) -> Link:
    return Link(f"id {r['id']}", r["seq"], _b(r["prev_hash"]), _b(r["hash"]),
                audit_values(r["at"], r))  # fmt: skip


def _archive_link(r: asyncpg.Record) -> Link:
    label = f"offset {r['chain_offset']} ({r['source']}, {r['event_id']})"
    if r["chain"] is None:
        label = f"{r['topic']}/{r['partition']} offset {r['offset']} {label[label.index('(') :]}"
    values = archive_values(
        r["chain"], r["chain_offset"], r["source"], r["event_id"], r["type"],
        r["agency"], r["time"], r["subject"], r["version"], normalized(r["data"]), r["summary"],
    )  # fmt: skip
    return Link(label, r["chain_seq"], _b(r["prev_hash"]), _b(r["hash"]), values)


def _b(v: bytes | None) -> bytes | None:
    return bytes(v) if v is not None else None


async def _walk_audit(conn: asyncpg.Connection, report: Report, walks: dict[str, Walk],
                      advance: Callable[[int], None]) -> None:  # fmt: skip
    head = await conn.fetchrow("SELECT seq, hash FROM audit_chain_head WHERE chain = 'audit'")
    seqs = Counter(r[0] for r in await conn.fetch("SELECT seq FROM audit_log WHERE seq > 0"))
    walk = walks[AUDIT_CHAIN] = Walk(AUDIT_CHAIN, seqs, (head["seq"], bytes(head["hash"])))
    async for r in conn.cursor(
        "SELECT id, seq, prev_hash, hash, at, user_name, agency, role, client, method, path,"
        " purpose, subject_ids, outcome, case_ref FROM audit_log ORDER BY id",
        prefetch=PAGE,
    ):
        report.rows[AUDIT_CHAIN] += 1
        advance(1)
        if found := walk.step(_audit_link(r)):
            report.breaks.append(found)
            return
    if found := walk.end():
        report.breaks.append(found)


async def _walk_archive(conn: asyncpg.Connection, report: Report, walks: dict[str, Walk],
                        advance: Callable[[int], None]) -> None:  # fmt: skip
    heads = {
        ARCHIVE_PREFIX + r["chain"]: (r["seq"], bytes(r["hash"]))
        for r in await conn.fetch("SELECT chain, seq, hash FROM archive_chain_head")
    }
    seqs: dict[str, Counter[int]] = defaultdict(Counter)
    for r in await conn.fetch("SELECT chain, chain_seq FROM event_archive WHERE chain IS NOT NULL"):
        seqs[ARCHIVE_PREFIX + r["chain"]][r["chain_seq"]] += 1
    broken: set[str] = set()
    async for r in conn.cursor(
        'SELECT chain, chain_seq, chain_offset, prev_hash, hash, topic, partition, "offset",'
        " source, event_id, type, agency, time, subject, version, data, summary"
        " FROM event_archive ORDER BY chain, chain_offset, chain_seq, source, event_id",
        prefetch=PAGE,
    ):
        name = ARCHIVE_PREFIX + (r["chain"] or "(none)")
        advance(1)
        if name in broken:
            continue
        report.rows[name] += 1
        if name not in walks:
            walks[name] = Walk(name, seqs[name], heads.get(name, (0, bytes(32))))
        if found := walks[name].step(_archive_link(r)):
            report.breaks.append(found)
            broken.add(name)
    for name, head in sorted(heads.items()):
        if name not in walks:
            walks[name] = Walk(name, Counter(), head)
        if name not in broken and (found := walks[name].end()):
            report.breaks.append(found)


def _check_points(points: list[Checkpoint], keys: list[Ed25519PublicKey],
                  walks: dict[str, Walk], report: Report) -> None:  # fmt: skip
    by_id = {key_id(k): k for k in keys}
    report.key_id = ", ".join(by_id)
    for cp in points:
        report.checkpoints += 1
        where = f"checkpoint {cp.id} (seq {cp.last_seq}, {cp.at:%Y-%m-%d %H:%M:%S}Z)"
        key = by_id.get(cp.key_id)
        if key is None or not cp.valid(key):
            report.breaks.append(Break(cp.chain, "altered", where, "its signature is not valid"))
            continue
        walk = walks.get(cp.chain)
        if walk is None:
            report.breaks.append(Break(cp.chain, "deleted", where, "the chain is gone"))
        elif any(b.chain == cp.chain for b in report.breaks):
            continue  # the chain's first break is named already
        elif cp.last_seq not in walk.hashes:
            why = f"the signed seq {cp.last_seq} is missing (the chain ends at {walk.expected - 1})"
            report.breaks.append(Break(cp.chain, "deleted", where, why))
        elif walk.hashes[cp.last_seq] != cp.last_hash:
            why = f"seq {cp.last_seq}'s hash is not the signed one (re-chained)"
            report.breaks.append(Break(cp.chain, "altered", where, why))


async def verify(settings: Settings, public_keys: Sequence[Path] = ()) -> Report:
    """``public_keys``: the checkpoints' keys (PEM; several after a rotation); none: the
    public half of the hub's own key (HUB_AUDIT_KEY or the demo key)."""
    keys = [load_public_key(settings, p) for p in public_keys] or [load_public_key(settings)]
    report = Report()
    walks: dict[str, Walk] = {}
    pool = await create_pool(settings.database_url_as("auditor"), max_size=1)
    try:
        async with (
            pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            total = await conn.fetchval(
                "SELECT (SELECT count(*) FROM audit_log) + (SELECT count(*) FROM event_archive)"
            )
            with progress("verifying the audit log and the archive", total) as advance:
                await _walk_audit(conn, report, walks, advance)
                await _walk_archive(conn, report, walks, advance)
            points = await read_checkpoints(conn)
    finally:
        await pool.close()
    _check_points(points, keys, walks, report)
    return report


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("audit", help="the audit log and the event archive: verify them")
    asub = p.add_subparsers(dest="action", required=True)
    v = asub.add_parser(
        "verify",
        help="walk both hash chains and the signed checkpoints; name the first row "
        "altered, deleted, inserted or reordered; exit 0 only when intact",
    )
    v.add_argument(
        "--public-key",
        type=Path,
        action="append",
        default=[],
        help="Ed25519 public key (PEM) the checkpoints are signed with; repeat after a key"
        " rotation (default: the public half of HUB_AUDIT_KEY or of the demo key)",
    )
    k = asub.add_parser(
        "public-key",
        help="print the hub's public key (PEM; its id on stderr): publish it, and verify"
        " replay bundles with it (civic-hub replay verify FILE --public-key PEM)",
    )
    k.add_argument("-o", "--out", type=Path, help="write the PEM to this file")


def print_public_key(settings: Settings, out: Path | None) -> int:
    """The hub's public key (PEM) and its id: what an inquiry pins a bundle's proofs to."""
    key = load_signing_key(settings).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if out is None:
        sys.stdout.write(pem.decode())
    else:
        out.write_bytes(pem)
    print(f"key id {key_id(key)}", file=sys.stderr)
    return 0


async def run(settings: Settings, args: argparse.Namespace) -> int:
    report = await verify(settings, args.public_key)
    audit_rows = report.rows.get(AUDIT_CHAIN, 0)
    archive = {k: v for k, v in report.rows.items() if k != AUDIT_CHAIN}
    print(
        f"audit log: {audit_rows:,} rows; archive: {sum(archive.values()):,} rows in"
        f" {len(archive)} chains; {report.checkpoints:,} checkpoints (key {report.key_id})"
    )
    if report.intact:
        print("intact: every row is where and what its chain says; every checkpoint verifies")
        return 0
    for b in report.breaks:
        print(f"BROKEN {b}")
    return 1
