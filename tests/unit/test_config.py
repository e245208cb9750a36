"""Configuration from the environment (contract section 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConfigError, load_settings
from hub.tokens import TokenBook, TokenFileError, write_demo_tokens

AGENCIES = ("police", "city", "civil", "court")


def test_with_nothing_set_the_embedded_stack_is_used() -> None:
    s = load_settings({})
    assert s.embedded_kafka and s.embedded_database
    assert s.api_bind == "127.0.0.1:8400"
    assert not s.producer_idempotence  # the embedded broker refuses InitProducerId
    assert s.inbound_topics == ("agency.police", "agency.city", "agency.civil", "agency.court")


def test_real_kafka_turns_idempotence_on_and_replication_to_three() -> None:
    s = load_settings(
        {"HUB_KAFKA_BOOTSTRAP": "k1:9092,k2:9092", "HUB_DATABASE_URL": "postgresql://hub@db/hub"}
    )
    assert not s.embedded_kafka and s.producer_idempotence and s.replication == 3


def test_children_of_an_embedded_up_keep_embedded_defaults() -> None:
    s = load_settings({"HUB_KAFKA_BOOTSTRAP": "127.0.0.1:1", "HUB_EMBEDDED_BROKER": "1"})
    assert not s.producer_idempotence and s.replication == 1


def test_a_fifth_agency_is_configuration() -> None:
    s = load_settings({"HUB_AGENCIES": "police,city,civil,court,health"})
    assert "agency.health" in s.inbound_topics


@pytest.mark.parametrize(
    "env",
    [
        {"HUB_API_BIND": "8400"},
        {"HUB_API_BIND": "h:99999"},
        {"HUB_DATABASE_URL": "mysql://x"},
        {"HUB_KAFKA_IDEMPOTENCE": "maybe"},
        {"HUB_AGENCIES": "Police"},
        {"HUB_WORKERS": "-1"},
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert next(iter(env)) in str(info.value)


def test_tokens_file_round_trip(tmp_path: Path) -> None:
    written = write_demo_tokens(tmp_path / "t.toml")
    book = TokenBook.load(tmp_path / "t.toml", AGENCIES)
    for token, principal in written.items():
        assert book.lookup(token) == principal
    assert book.lookup("nope") is None


def test_a_bad_tokens_file_says_what_is_wrong(tmp_path: Path) -> None:
    p = tmp_path / "t.toml"
    p.write_text('[tokens."0123456789abcdef0"]\nuser = "u"\nagency = "mars"\nrole = "auditor"\n')
    with pytest.raises(TokenFileError, match="agency"):
        TokenBook.load(p, AGENCIES)
    with pytest.raises(TokenFileError, match="does not exist"):
        TokenBook.load(tmp_path / "missing.toml", AGENCIES)


def test_each_part_connects_as_its_database_role() -> None:
    """The hub's URL with the role as user (password kept as written, percent-encoded), or
    the role's own URL, or the hub's user when roles are switched off."""
    url = "postgresql://hub:p%40ss@db.example:5432/civic_hub?sslmode=require"
    s = load_settings({"HUB_DATABASE_URL": url})
    assert (
        s.database_url_as("api")
        == "postgresql://civic_hub_api:p%40ss@db.example:5432/civic_hub?sslmode=require"
    )
    own = "postgresql://auditor:secret@replica:5432/civic_hub"
    s = load_settings({"HUB_DATABASE_URL": url, "HUB_AUDITOR_DATABASE_URL": own})
    assert s.database_url_as("auditor") == own
    s = load_settings({"HUB_DATABASE_URL": url, "HUB_DATABASE_ROLES": "false"})
    assert s.database_url_as("api") == url
