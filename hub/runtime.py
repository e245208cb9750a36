"""Running the hub on one machine: the embedded stack (when no real one is configured),
migrations, topics, supervised stream workers and the query API.

``civic-hub up`` is :func:`run`; tests use :class:`Hub` directly to get the same
composition without the API server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import orjson
import structlog

from hub.audit_seal import seal_unchained
from hub.config import Settings
from hub.devstack import EmbeddedStack, _die_with_parent
from hub.topics import ensure_topics
from projections.db import migrate

log = structlog.get_logger("hub.runtime")

STACK_FILE = "stack.json"


class LogMismatch(RuntimeError):
    """The read model was built from a different log than the broker now holds."""


async def check_log_identity(database_url: str, cluster_id: str, embedded: bool) -> None:
    """The read model's positions only mean something against the log they were read from.
    A memory-only broker starts empty every time, so its cluster id is new at each start."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS log_identity (id boolean PRIMARY KEY DEFAULT true"
            " CHECK (id), cluster_id text NOT NULL)"
        )
        current = await conn.fetchval("SELECT cluster_id FROM log_identity")
        if current is None:
            await conn.execute("INSERT INTO log_identity (cluster_id) VALUES ($1)", cluster_id)
        elif current != cluster_id:
            raise LogMismatch(
                f"the read model in HUB_DATABASE_URL was built from the log of Kafka cluster "
                f"{current!r}, but the broker is cluster {cluster_id!r}"
                + (" (the embedded broker keeps nothing across restarts)" if embedded else "")
                + ". Point HUB_KAFKA_BOOTSTRAP at the original cluster, or rebuild the read "
                "model into a fresh database."
            )
    finally:
        await conn.close()


async def broker_cluster_id(settings: Settings) -> str:
    from hub.bootstrap import new_admin

    admin = new_admin(settings)
    await admin.start()
    try:
        info = await admin.describe_cluster()
        return str(info.get("cluster_id") or "unknown")
    finally:
        await admin.close()


@dataclass
class Hub:
    """The hub's services on this machine, started in dependency order."""

    settings: Settings
    stack: EmbeddedStack | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_log: Path | None = None

    async def start_infra(self) -> Settings:
        s = self.settings
        want_kafka, want_db = s.kafka_bootstrap is None, s.database_url is None
        if want_kafka or want_db:
            stack_dir = s.data_dir / "stack"
            if want_kafka and want_db and stack_dir.exists():
                # The memory-only broker starts empty: a read model kept from the last run
                # would describe a log that no longer exists.
                shutil.rmtree(stack_dir)
            self.stack = EmbeddedStack(
                stack_dir,
                want_kafka=want_kafka,
                want_database=want_db,
                cluster_id=f"civic-hub-{uuid.uuid4().hex[:12]}",
            )
            await asyncio.to_thread(self.stack.start)
            s = dataclasses.replace(
                s,
                kafka_bootstrap=s.kafka_bootstrap or self.stack.kafka_bootstrap,
                database_url=s.database_url or self.stack.database_url,
            )
            self.settings = s
        await migrate(s.require_database())
        await seal_unchained(s.require_database())  # rows from before the audit chains
        created = await ensure_topics(s)
        if created:
            log.info("topics.created", topics=created)
        await check_log_identity(
            s.require_database(), await broker_cluster_id(s), s.embedded_broker
        )
        s.data_dir.mkdir(parents=True, exist_ok=True)
        stack_file = s.data_dir / STACK_FILE
        stack_file.touch(mode=0o600)  # the database URL may carry a password: owner only
        stack_file.chmod(0o600)
        stack_file.write_bytes(
            orjson.dumps(
                {
                    "kafka_bootstrap": s.kafka_bootstrap,
                    "database_url": s.database_url,
                    "embedded_broker": s.embedded_broker,
                    "api": s.api_bind,
                    "pid": os.getpid(),
                }
            )
        )
        return s

    def child_env(self) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        env.update(
            {
                "HUB_KAFKA_BOOTSTRAP": s.require_kafka(),
                "HUB_DATABASE_URL": s.require_database(),
                "HUB_EMBEDDED_BROKER": "1" if s.embedded_broker else "0",
                "HUB_DATA_DIR": str(s.data_dir),
                "HUB_AGENCIES": ",".join(s.agencies),
                "HUB_STREAMS_APP_ID": s.streams_app_id,
            }
        )
        return env

    def spawn_worker(self) -> subprocess.Popen[bytes]:
        proc = self._popen_worker()
        self.workers.append(proc)
        return proc

    def _popen_worker(self) -> subprocess.Popen[bytes]:
        out = None
        if self.worker_log is not None:
            out = open(self.worker_log, "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.worker", "worker", "--without-web", "-l", "warn"],
            env=self.child_env(),
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            preexec_fn=lambda: _die_with_parent(signal.SIGTERM),
            start_new_session=True,
        )
        log.info("worker.started", pid=proc.pid)
        return proc

    async def supervise(self) -> None:
        """Restart a worker that died (a crash replays its batch from PostgreSQL's positions)."""
        backoff = [1.0] * len(self.workers)
        while True:
            await asyncio.sleep(0.5)
            for i, proc in enumerate(self.workers):
                if proc.poll() is None:
                    continue
                log.warning(
                    "worker.exited",
                    pid=proc.pid,
                    code=proc.returncode,
                    restart_in=backoff[i],
                    log=str(self.worker_log),
                )
                await asyncio.sleep(backoff[i])
                backoff[i] = min(backoff[i] * 2, 30.0)
                self.workers[i] = self._popen_worker()

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.workers.clear()

    def stop(self) -> None:
        self.stop_workers()
        if self.stack is not None:
            self.stack.stop()


def read_stack_file(data_dir: Path) -> dict[str, object] | None:
    path = data_dir / STACK_FILE
    if not path.exists():
        return None
    info = orjson.loads(path.read_bytes())
    pid = info.get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except OSError:
            return None  # the hub that wrote it is gone
    return info
