"""Given a hub whose worker archived events and whose API audited reads (as its own database
role, with signed checkpoints when it stopped), `civic-hub audit verify` exits 0; when any
single row of either chain is altered, deleted, inserted or swapped with superuser SQL, it
names that row first and exits 1. The API's role cannot change or delete audit rows."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.api.app import create_app
from hub.audit import AuditRecord, AuditWriter
from hub.audit_seal import seal_unchained
from hub.audit_verify import verify
from hub.checkpoints import load_signing_key
from hub.config import Settings
from hub.sim import story
from hub.tokens import TokenBook
from projections.db import create_pool, migrate
from tests.integration.conftest import (
    CC,
    TOKENS,
    Worker,
    new_database,
    publish,
    unique,
    wait_caught_up,
)


@dataclasses.dataclass
class Sealed:
    settings: Settings  # the hub on the sealed database
    name: str  # the database, a template for each tampered copy
    chain: str  # an archive chain with at least 6 rows


def _url(hub: Settings, name: str) -> str:
    return hub.require_database().rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module")
async def sealed(
    hub: Settings,
    producer: AIOKafkaProducer,
    start_worker: Callable[..., Worker],
    tmp_path_factory: pytest.TempPathFactory,
) -> Sealed:
    tag = unique("seal")
    name = f"seal_{tag.split('-')[1]}"
    url = await new_database(hub, name)
    group = f"hub.internal.seal-{tag}"
    worker = start_worker(url, app_id=group)
    # a seed no other test uses: the main worker reads these too (same seed, same people)
    ends = await publish(producer, story.bulk(seed=4711, n_residents=40, n_cases=20, prefix=tag))
    live = dataclasses.replace(
        hub, database_url=url, streams_app_id=group, data_dir=tmp_path_factory.mktemp("seal")
    )
    su = await asyncpg.connect(url)
    try:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
        assert pool is not None
        await wait_caught_up(pool, group, ends, worker)
        await pool.close()
        worker.stop()

        # The real API, as its own role: reads from two clients at once, then a clean stop
        # (the lifespan signs the chains' heads).
        app = create_app(live, TokenBook(dict(TOKENS)))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                paths = [f"/v1/persons?name=x{i}" for i in range(24)] + ["/v1/cases/C-404"]
                answers = await asyncio.gather(*(client.get(p, headers=CC) for p in paths))
                assert all(a.status_code in (200, 404) for a in answers)
        chain = await su.fetchval(
            "SELECT chain FROM archive_chain_head WHERE seq >= 6 ORDER BY chain LIMIT 1"
        )
        assert chain is not None
        assert await su.fetchval("SELECT count(*) FROM audit_log") >= 25
        assert await su.fetchval("SELECT count(*) FROM chain_checkpoint WHERE chain = 'audit'")
    finally:
        await su.close()
    return Sealed(live, name, chain)


@contextlib.asynccontextmanager
async def _copy(hub: Settings, sealed: Sealed) -> AsyncIterator[tuple[Settings, Any]]:
    name = f"{sealed.name}_{unique('t').split('-')[1]}"
    admin = await asyncpg.connect(hub.require_database())
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{sealed.name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(_url(hub, name))
    try:
        yield dataclasses.replace(sealed.settings, database_url=_url(hub, name)), conn
    finally:
        await conn.close()


def _cli(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        HUB_KAFKA_BOOTSTRAP=settings.require_kafka(),
        HUB_DATABASE_URL=settings.require_database(),
        HUB_DATA_DIR=str(settings.data_dir),
        HUB_EMBEDDED_BROKER="1",
    )
    env.pop("HUB_AUDIT_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_clean_hub_verifies_with_exit_0(sealed: Sealed) -> None:
    report = await verify(sealed.settings)
    assert report.breaks == []
    assert report.checkpoints > 0
    out = await asyncio.to_thread(_cli, sealed.settings)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "intact" in out.stdout


async def _audit_row(conn: Any, seq: int) -> str:
    return f"id {await conn.fetchval('SELECT id FROM audit_log WHERE seq = $1', seq)}"


AUDIT_COLS = "at, user_name, agency, role, client, method, path, purpose, subject_ids, outcome"

# (name, SQL on the copy, expected kind, the seq whose row is named; None: the chain's end)
AUDIT_CASES: list[tuple[str, list[str], str, int | str]] = [
    ("alter", ["UPDATE audit_log SET purpose = 'curiosity' WHERE seq = 5"], "altered", 5),
    ("delete", ["DELETE FROM audit_log WHERE seq = 5"], "deleted", 6),
    (
        "insert",
        [
            f"INSERT INTO audit_log ({AUDIT_COLS}, seq, prev_hash, hash) SELECT {AUDIT_COLS},"
            " (SELECT max(seq) + 1 FROM audit_log), hash, hash FROM audit_log WHERE seq = 5"
        ],
        "inserted",
        "new",
    ),
    (
        "swap",
        [
            "UPDATE audit_log SET seq = -seq WHERE seq IN (4, 5)",
            f"UPDATE audit_log a SET ({AUDIT_COLS}, seq, prev_hash, hash) = (SELECT {AUDIT_COLS},"
            " -b.seq, b.prev_hash, b.hash FROM audit_log b WHERE b.seq = -9 - a.seq)"
            " WHERE a.seq IN (-4, -5)",
        ],
        "reordered",
        "first-of-swap",
    ),
]


@pytest.mark.parametrize(
    ("name", "sql", "kind", "at"), AUDIT_CASES, ids=[c[0] for c in AUDIT_CASES]
)
async def test_audit_tampering_is_named(
    hub: Settings, sealed: Sealed, name: str, sql: list[str], kind: str, at: int | str
) -> None:
    async with _copy(hub, sealed) as (settings, conn):
        if at == "first-of-swap":
            row = await _audit_row(conn, 4)
        elif isinstance(at, int):
            row = await _audit_row(conn, at)
        for q in sql:
            await conn.execute(q)
        if at == "new":
            row = f"id {await conn.fetchval('SELECT max(id) FROM audit_log')}"
        report = await verify(settings)
        assert report.breaks, name
        first = report.breaks[0]
        assert (first.chain, first.kind, first.row) == ("audit", kind, row), str(first)


async def _archive_row(conn: Any, chain: str, seq: int) -> str:
    r = await conn.fetchrow(
        "SELECT chain_offset, source, event_id FROM event_archive"
        " WHERE chain = $1 AND chain_seq = $2",
        chain,
        seq,
    )
    return f"offset {r['chain_offset']} ({r['source']}, {r['event_id']})"


ARCHIVE_COLS = (
    'type, agency, time, subject, topic, partition, "offset", version, data, summary, chain,'
    " chain_seq, chain_offset, prev_hash, hash"
)
ARCHIVE_CASES: list[tuple[str, list[str], str, int | str]] = [
    (
        "alter",
        ["UPDATE event_archive SET summary = summary || '.' WHERE chain = $1 AND chain_seq = 3"],
        "altered",
        3,
    ),
    ("delete", ["DELETE FROM event_archive WHERE chain = $1 AND chain_seq = 3"], "deleted", 4),
    (
        "insert",
        [
            f"INSERT INTO event_archive (source, event_id, {ARCHIVE_COLS}) SELECT source,"
            f" event_id || '-forged', {ARCHIVE_COLS} FROM event_archive"
            " WHERE chain = $1 AND chain_seq = 3"
        ],
        "inserted",
        "forged",
    ),
    (
        "swap",
        [
            "UPDATE event_archive a SET (chain_seq, prev_hash, hash) = (SELECT b.chain_seq,"
            " b.prev_hash, b.hash FROM event_archive b WHERE b.chain = a.chain"
            " AND b.chain_seq = 7 - a.chain_seq) WHERE a.chain = $1 AND a.chain_seq IN (3, 4)"
        ],
        "reordered",
        3,
    ),
    (
        "cut-end",  # the last row removed and the head put back: the checkpoint remembers
        [
            "DELETE FROM event_archive WHERE chain = $1"
            " AND chain_seq = (SELECT seq FROM archive_chain_head WHERE chain = $1)",
            "UPDATE archive_chain_head h SET seq = h.seq - 1, hash = a.hash FROM event_archive a"
            " WHERE h.chain = $1 AND a.chain = $1 AND a.chain_seq = h.seq - 1",
        ],
        "deleted",
        "checkpoint",
    ),
]


@pytest.mark.parametrize(
    ("name", "sql", "kind", "at"), ARCHIVE_CASES, ids=[c[0] for c in ARCHIVE_CASES]
)
async def test_archive_tampering_is_named(
    hub: Settings, sealed: Sealed, name: str, sql: list[str], kind: str, at: int | str
) -> None:
    async with _copy(hub, sealed) as (settings, conn):
        chain = sealed.chain
        row = await _archive_row(conn, chain, at) if isinstance(at, int) else ""
        if at == "forged":
            row = (await _archive_row(conn, chain, 3)).replace(")", "-forged)")
        for q in sql:
            await conn.execute(q, chain)
        report = await verify(settings)
        assert report.breaks, name
        first = report.breaks[0]
        assert (first.chain, first.kind) == ("archive:" + chain, kind), str(first)
        if at == "checkpoint":
            assert first.row.startswith("checkpoint "), str(first)
        else:
            assert first.row == row, str(first)
        if name == "alter":  # the command says so too, with exit code 1
            out = await asyncio.to_thread(_cli, settings)
            assert out.returncode == 1, out.stdout + out.stderr
            assert f"archive:{chain}: altered at {row}" in out.stdout


async def test_api_role_only_appends_to_the_audit(hub: Settings, sealed: Sealed) -> None:
    async with _copy(hub, sealed) as (settings, _):
        api = await asyncpg.connect(settings.database_url_as("api"))
        try:
            assert await api.fetchval("SELECT current_user") == "civic_hub_api"
            assert await api.fetchval("SELECT count(*) FROM audit_log") > 0
            for q in (
                "UPDATE audit_log SET purpose = 'x'",
                "DELETE FROM audit_log",
                "TRUNCATE audit_log",
                "UPDATE chain_checkpoint SET last_seq = 0",
                "DELETE FROM chain_checkpoint",
                "UPDATE event_archive SET summary = 'x'",
                "DELETE FROM event_archive",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await api.execute(q)
        finally:
            await api.close()
        auditor = await asyncpg.connect(settings.database_url_as("auditor"))
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await auditor.execute("INSERT INTO chain_checkpoint SELECT * FROM chain_checkpoint")
        finally:
            await auditor.close()


def test_key_file_is_private(sealed: Sealed) -> None:
    key = Path(sealed.settings.data_dir) / "audit-ed25519.pem"
    assert key.exists() and key.stat().st_mode & 0o077 == 0


async def test_api_processes_writing_at_once_chain_in_turn(hub: Settings, sealed: Sealed) -> None:
    """Two API processes' writers (two pools as the API's role) group-commit at the same
    time: every row is still linked to the one committed before it."""
    async with _copy(hub, sealed) as (settings, conn):
        before = await conn.fetchval("SELECT count(*) FROM audit_log")
        pools = [await create_pool(settings.database_url_as("api"), max_size=2) for _ in range(2)]
        writers = [AuditWriter(p) for p in pools]
        rec = AuditRecord(
            "u", "city", "command-center", None, "GET", "/v1/x", "case-handling", ["P-1"], "ok"
        )
        for w in writers:
            w.start()
        try:
            await asyncio.gather(
                *(
                    writers[i % 2].write(dataclasses.replace(rec, path=f"/v1/x/{i}"))
                    for i in range(300)
                )
            )
        finally:
            for w in writers:
                await w.stop()
            for p in pools:
                await p.close()
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == before + 300
        report = await verify(settings)
        assert report.breaks == []


async def test_rows_from_before_the_chains_are_sealed_as_the_worker_chains(
    hub: Settings, sealed: Sealed
) -> None:
    """A read model from before 050_audit_chain.sql: its rows are outside any chain until
    the start seals them, the archive exactly as the worker would have chained it."""
    async with _copy(hub, sealed) as (settings, conn):
        chained = await conn.fetch(
            "SELECT source, event_id, chain, chain_seq, chain_offset, prev_hash, hash"
            " FROM event_archive ORDER BY source, event_id"
        )
        await conn.execute(
            "UPDATE audit_log SET seq = NULL, prev_hash = NULL, hash = NULL;"
            " UPDATE event_archive SET chain = NULL, chain_seq = NULL, chain_offset = NULL,"
            " prev_hash = NULL, hash = NULL;"
            " DELETE FROM archive_chain_head; DELETE FROM chain_checkpoint"
        )
        await conn.execute("UPDATE audit_chain_head SET seq = 0, hash = $1", bytes(32))
        report = await verify(settings)
        assert report.breaks and report.breaks[0].kind == "inserted"
        audit_rows, archive_rows = await seal_unchained(settings.require_database())
        assert audit_rows > 0 and archive_rows == len(chained)
        assert (await verify(settings)).breaks == []
        again = await conn.fetch(
            "SELECT source, event_id, chain, chain_seq, chain_offset, prev_hash, hash"
            " FROM event_archive ORDER BY source, event_id"
        )
        assert again == chained
        assert await seal_unchained(settings.require_database()) == (0, 0)


async def test_migrations_need_createrole_not_superuser(hub: Settings) -> None:
    """As on a managed PostgreSQL: the migration user may create roles but is no superuser;
    the API's role it grants to still only appends to the audit."""
    tag = unique("own").split("-")[1]
    owner, name = f"hub_owner_{tag}", f"owned_{tag}"
    su = await asyncpg.connect(hub.require_database())
    try:
        await su.execute(f"CREATE ROLE {owner} LOGIN CREATEROLE")
        await su.execute(f'CREATE DATABASE "{name}" OWNER {owner}')
    finally:
        await su.close()
    scheme, rest = _url(hub, name).split("://", 1)
    url = f"{scheme}://{owner}@{rest.rpartition('@')[2]}"  # trust, as the embedded server
    assert "051_roles.sql" in await migrate(url)
    settings = dataclasses.replace(hub, database_url=url)
    api = await asyncpg.connect(settings.database_url_as("api"))
    try:
        await api.execute(
            "INSERT INTO audit_log (user_name, agency, role, method, path, subject_ids, outcome)"
            " VALUES ('u', 'city', 'command-center', 'GET', '/v1/x', '{}', 'ok')"
        )
        for q in ("UPDATE audit_log SET path = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await api.execute(q)
    finally:
        await api.close()


async def test_checkpoints_verify_with_the_public_key_only(sealed: Sealed, tmp_path: Path) -> None:
    """An auditor holds the public half: it verifies; a checkpoint under another key (or a
    forged one) does not."""
    own = load_signing_key(sealed.settings).public_key()
    other = Ed25519PrivateKey.generate().public_key()
    for name, key in (("own.pem", own), ("other.pem", other)):
        (tmp_path / name).write_bytes(
            key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    report = await verify(sealed.settings, [tmp_path / "own.pem"])
    assert report.breaks == [] and report.checkpoints > 0
    report = await verify(sealed.settings, [tmp_path / "other.pem"])
    assert report.breaks and report.breaks[0].row.startswith("checkpoint ")
    assert "signature" in report.breaks[0].detail
    rotated = await verify(sealed.settings, [tmp_path / "other.pem", tmp_path / "own.pem"])
    assert rotated.breaks == []
