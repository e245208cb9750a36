"""Signed checkpoints of the hash chains (Ed25519, the ``cryptography`` package).

The API signs each chain's head (chain name, last seq, last hash, time) at intervals and
when it stops, into ``chain_checkpoint``. A chain cut short, or re-chained, before a
checkpoint no longer matches it. The key is a PEM file (``HUB_AUDIT_KEY``); without one a
demo key is made under the data dir (the embedded stack). ``civic-hub audit verify`` checks
the signatures with the public half (or ``--public-key``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.background import BackgroundLoop
from hub.config import ConfigError, Settings
from projections.chain import canonical

log = structlog.get_logger("hub.checkpoints")
DEMO_KEY = "audit-ed25519.pem"
AUDIT_CHAIN = "audit"
ARCHIVE_PREFIX = "archive:"


def key_path(settings: Settings) -> Path:
    return settings.audit_key_path or settings.data_dir / DEMO_KEY


def load_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The signing key; the demo key is generated the first time (mode 0600)."""
    path = key_path(settings)
    if not path.exists():
        if settings.audit_key_path is not None:
            raise ConfigError(f"HUB_AUDIT_KEY: {path} does not exist")
        key = Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        log.warning("audit.demo_key_generated", path=str(path))
        return key
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(settings: Settings, public: Path | None = None) -> Ed25519PublicKey:
    if public is not None:
        key = serialization.load_pem_public_key(public.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"{public}: not an Ed25519 public key")
        return key
    path = key_path(settings)
    if not path.exists():
        raise ConfigError(f"no audit key at {path}: set HUB_AUDIT_KEY or pass --public-key")
    return load_signing_key(settings).public_key()


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def message(chain: str, seq: int, last_hash: bytes, at: datetime) -> bytes:
    return canonical(["civic-hub checkpoint v1", chain, seq, last_hash.hex(), at])


@dataclass(frozen=True)
class Checkpoint:
    id: int
    chain: str
    last_seq: int
    last_hash: bytes
    at: datetime
    key_id: str
    signature: bytes

    def valid(self, key: Ed25519PublicKey) -> bool:
        try:
            key.verify(self.signature, message(self.chain, self.last_seq, self.last_hash, self.at))
        except InvalidSignature:
            return False
        return True


async def heads(conn: asyncpg.Pool | asyncpg.Connection) -> dict[str, tuple[int, bytes]]:
    """Every chain's head: the audit's and one per archived partition."""
    rows = await conn.fetch(
        "SELECT chain, seq, hash FROM audit_chain_head UNION ALL"
        " SELECT $1 || chain, seq, hash FROM archive_chain_head",
        ARCHIVE_PREFIX,
    )
    return {r["chain"]: (r["seq"], bytes(r["hash"])) for r in rows}


async def write_checkpoints(
    pool: asyncpg.Pool, key: Ed25519PrivateKey, signed: dict[str, int]
) -> int:
    """Sign every chain head that moved since ``signed`` (updated); returns how many."""
    now = datetime.now(UTC)
    kid = key_id(key.public_key())
    todo = [(c, s, h) for c, (s, h) in sorted((await heads(pool)).items()) if signed.get(c) != s]
    todo = [(c, s, h) for c, s, h in todo if s > 0]
    if not todo:
        return 0
    await pool.execute(
        "INSERT INTO chain_checkpoint (chain, last_seq, last_hash, at, key_id, signature)"
        " SELECT c, s, h, $4, $5, g FROM unnest($1::text[], $2::bigint[], $3::bytea[],"
        " $6::bytea[]) AS x(c, s, h, g)",
        [c for c, _, _ in todo],
        [s for _, s, _ in todo],
        [h for _, _, h in todo],
        now,
        kid,
        [key.sign(message(c, s, h, now)) for c, s, h in todo],
    )
    signed.update({c: s for c, s, _ in todo})
    log.info("audit.checkpoints", chains=len(todo), key_id=kid)
    return len(todo)


class Checkpointer(BackgroundLoop):
    """Checkpoints every ``interval`` seconds, and once more at :meth:`close`."""

    def __init__(self, pool: asyncpg.Pool, key: Ed25519PrivateKey, interval: float) -> None:
        self.pool, self.key, self.interval = pool, key, interval
        self.signed: dict[str, int] = {}

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await write_checkpoints(self.pool, self.key, self.signed)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.exception("audit.checkpoint_failed")  # the next round tries again

    async def close(self) -> None:
        """Stop the loop and sign the heads as they are now (the API's last audit rows)."""
        await self.stop()
        try:
            await write_checkpoints(self.pool, self.key, self.signed)
        except (OSError, asyncpg.PostgresError):
            log.exception("audit.checkpoint_failed")


async def read_checkpoints(conn: asyncpg.Pool | asyncpg.Connection) -> list[Checkpoint]:
    rows = await conn.fetch(
        "SELECT id, chain, last_seq, last_hash, at, key_id, signature FROM chain_checkpoint"
        " ORDER BY id"
    )
    return [
        Checkpoint(
            r["id"],
            r["chain"],
            r["last_seq"],
            bytes(r["last_hash"]),
            r["at"],
            r["key_id"],
            bytes(r["signature"]),
        )
        for r in rows
    ]
