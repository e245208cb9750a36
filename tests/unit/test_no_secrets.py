"""Given real services, the banner and the logs never show a secret: the database URL's
password is masked; demo tokens are made and printed only on the embedded stack; with a
real broker or database and no HUB_TOKENS, `civic-hub up` refuses to start in one line."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import ConfigError, load_settings, redact_url, require_tokens_for_real_services
from hub.tokens import Principal
from hub.up import banner

SECRET = "s3cr3t-Pa55word"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://hub:{SECRET}@db:5432/civic_hub", "postgresql://hub:***@db:5432/civic_hub"),
        (
            f"postgresql://hub:{SECRET}@db/civic_hub?sslmode=require",
            "postgresql://hub:***@db/civic_hub?sslmode=require",
        ),
        ("postgresql://postgres@127.0.0.1:5432/civic_hub", None),  # no password: as is
        (f"postgres://:{SECRET}@db/x", "postgres://:***@db/x"),
        (None, None),
    ],
)
def test_the_password_of_a_url_is_masked(url: str | None, shown: str | None) -> None:
    assert redact_url(url) == (shown or url)


def test_the_banner_never_prints_the_database_password(tmp_path: Path) -> None:
    s = dataclasses.replace(
        load_settings({"HUB_TOKENS": str(tmp_path / "t.toml")}),
        kafka_bootstrap="k1:9092",
        database_url=f"postgresql://hub:{SECRET}@db:5432/civic_hub",
    )
    text = banner(s, None, None)
    assert SECRET not in text
    assert "postgresql://hub:***@db:5432/civic_hub" in text
    assert "Bearer" not in text, "no tokens printed without demo tokens"


def test_demo_tokens_are_printed_on_the_embedded_stack() -> None:
    s = load_settings({})
    text = banner(s, {"t" * 32: Principal("u", "city", "command-center")}, None)
    assert "t" * 32 in text


@pytest.mark.parametrize(
    "env",
    [
        {"HUB_KAFKA_BOOTSTRAP": "k1:9092"},
        {"HUB_DATABASE_URL": f"postgresql://hub:{SECRET}@db/civic_hub"},
        {"HUB_KAFKA_BOOTSTRAP": "k1:9092", "HUB_DATABASE_URL": "postgresql://hub@db/x"},
    ],
)
def test_real_services_without_tokens_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="HUB_TOKENS"):
        require_tokens_for_real_services(load_settings(env))
    require_tokens_for_real_services(load_settings({**env, "HUB_TOKENS": "/run/secrets/t"}))
    require_tokens_for_real_services(load_settings({}))  # embedded: demo tokens are fine


def test_civic_hub_up_refuses_in_one_line_before_starting_anything(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HUB_")  # nothing of the developer's own configuration
    }
    env.update(
        {
            "HUB_DATABASE_URL": f"postgresql://hub:{SECRET}@127.0.0.1:9/civic_hub",
            "HUB_KAFKA_BOOTSTRAP": "127.0.0.1:9",
            "HUB_DATA_DIR": str(tmp_path),
        }
    )
    r = subprocess.run(
        [sys.executable, "-m", "hub.cli", "up"], env=env, capture_output=True, text=True
    )
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "HUB_TOKENS" in lines[0], r.stderr
    assert SECRET not in r.stderr + r.stdout
    assert not (tmp_path / "tokens.toml").exists(), "no demo tokens written"
