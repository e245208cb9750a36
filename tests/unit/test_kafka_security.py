"""Given HUB_KAFKA_SECURITY_PROTOCOL / HUB_KAFKA_SASL_* / HUB_KAFKA_SSL_CAFILE, then every
Kafka client the hub makes (producers, admin, the faust workers) carries the same
credentials, the password appears in no repr, and a half-configured SASL is one clear
error."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest

from hub.bootstrap import kafka_auth, new_producer
from hub.config import ConfigError, load_settings
from hub.worker import worker_app
from streams.app import broker_credentials

REAL = {"HUB_KAFKA_BOOTSTRAP": "kafka1:9093", "HUB_DATABASE_URL": "postgresql://hub@db/hub"}
PASSWORD = "hub-scram-secret-0123"


def test_plaintext_by_default() -> None:
    s = load_settings(REAL)
    assert kafka_auth(s) == {"security_protocol": "PLAINTEXT"}


async def test_sasl_ssl_with_scram_sha_512(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    s = load_settings(
        {**REAL, "HUB_KAFKA_SASL_USERNAME": "civic-hub", "HUB_KAFKA_SASL_PASSWORD_FILE": str(pw)}
    )
    opts = kafka_auth(s)
    assert opts["security_protocol"] == "SASL_SSL"  # the default once a user is named
    assert opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (opts["sasl_plain_username"], opts["sasl_plain_password"]) == ("civic-hub", PASSWORD)
    assert opts["ssl_context"] is not None
    assert PASSWORD not in repr(s)
    producer = new_producer(s, "gateway")
    assert producer.client._security_protocol == "SASL_SSL"
    assert producer.client._sasl_mechanism == "SCRAM-SHA-512"


def test_the_workers_get_the_same_credentials() -> None:
    s = load_settings(
        {
            **REAL,
            "HUB_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
            "HUB_KAFKA_SASL_USERNAME": "civic-hub",
            "HUB_KAFKA_SASL_PASSWORD": PASSWORD,
        }
    )
    app = worker_app(s)
    creds = app.conf.broker_credentials
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.protocol.value, creds.mechanism.value) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")
    assert (creds.username, creds.password) == ("civic-hub", PASSWORD)


def test_tls_alone() -> None:
    s = load_settings({**REAL, "HUB_KAFKA_SECURITY_PROTOCOL": "SSL"})
    assert kafka_auth(s)["security_protocol"] == "SSL" and "sasl_mechanism" not in kafka_auth(s)
    app = worker_app(s)
    assert isinstance(app.conf.broker_credentials, faust.SSLCredentials)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"HUB_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "HUB_KAFKA_SASL_USERNAME"),
        ({"HUB_KAFKA_SECURITY_PROTOCOL": "KERBEROS"}, "HUB_KAFKA_SECURITY_PROTOCOL"),
        (
            {
                "HUB_KAFKA_SASL_USERNAME": "u",
                "HUB_KAFKA_SASL_PASSWORD": "p" * 8,
                "HUB_KAFKA_SASL_MECHANISM": "MD5",
            },
            "HUB_KAFKA_SASL_MECHANISM",
        ),
        ({"HUB_KAFKA_SASL_USERNAME": "u", "HUB_KAFKA_SASL_PASSWORD_FILE": "/nonexistent"}, "FILE"),
    ],
)
def test_half_configured_security_is_one_clear_error(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_settings({**REAL, **env})


def test_no_credentials_for_the_workers_on_plaintext() -> None:
    s = load_settings(REAL)
    assert worker_app(s).conf.broker_credentials is None
    assert broker_credentials.__name__  # the one place streams builds them
