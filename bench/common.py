"""Shared set-up for benchmarks: a fresh embedded stack (or the configured real one)."""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from hub.config import Settings, load_settings
from hub.devstack import EmbeddedStack
from projections.db import migrate


@contextmanager
def stack() -> Iterator[Settings]:
    base = load_settings()
    data = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    st = EmbeddedStack(
        data / "stack",
        want_kafka=base.kafka_bootstrap is None,
        want_database=base.database_url is None,
    ).start()
    try:
        yield dataclasses.replace(
            base,
            kafka_bootstrap=base.kafka_bootstrap or st.kafka_bootstrap,
            database_url=base.database_url or st.database_url,
            data_dir=data,
            embedded_broker=base.kafka_bootstrap is None,
            producer_idempotence=base.producer_idempotence and base.kafka_bootstrap is not None,
        )
    finally:
        st.stop()


def child_env(s: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HUB_KAFKA_BOOTSTRAP": s.require_kafka(),
            "HUB_DATABASE_URL": s.require_database(),
            "HUB_EMBEDDED_BROKER": "1" if s.embedded_broker else "0",
            "HUB_DATA_DIR": str(s.data_dir),
            **extra,
        }
    )
    return env


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


async def start_api(
    s: Settings, token: str, agency: str, role: str
) -> tuple[subprocess.Popen[bytes], str]:
    """The API as its own process (`civic-hub up`, no workers) with one token; returns the
    process and its base URL once /healthz answers."""
    import asyncio

    import httpx

    from hub.devstack import free_port

    tokens = s.data_dir / "tokens.toml"
    tokens.write_text(f'[tokens."{token}"]\nuser = "bench"\nagency = "{agency}"\nrole = "{role}"\n')
    port = free_port()
    api = spawn(
        ["-m", "hub.cli", "up"],
        child_env(s, HUB_TOKENS=str(tokens), HUB_API_BIND=f"127.0.0.1:{port}", HUB_WORKERS="0"),
        s.data_dir / "api.log",
    )
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as c:
        for _ in range(300):
            try:
                if (await c.get("/healthz")).status_code == 200:
                    return api, url
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    api.terminate()
    raise RuntimeError(f"the API did not start; see {s.data_dir / 'api.log'}")


def header(name: str) -> str:
    return (
        f"{name} — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


async def fresh_db(s: Settings, name: str) -> str:
    """A database of its own for one measurement (dropped first if a run left it), migrated;
    returns its URL."""
    conn = await asyncpg.connect(s.require_database())
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = s.require_database().rsplit("/", 1)[0] + "/" + name
    await migrate(url)
    return url
