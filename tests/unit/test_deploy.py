"""Given deploy/ (which cannot run here: no Docker engine), then it is at least consistent:
the compose file parses, every HUB_* variable it sets is one the hub reads and loads into
settings with SASL_SSL and SCRAM-SHA-512, no Kafka listener is PLAINTEXT, the ACL authorizer
is on with no access by default, each agency is granted Write on its own topic only, the
API is published only through TLS, and the secrets script makes what compose mounts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hub.config import load_settings
from schemas.topics import DEFAULT_AGENCIES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CONFIG_SOURCE = (DEPLOY.parent / "hub" / "config.py").read_text()


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def hub_env(tmp_path: Path) -> dict[str, str]:
    env = dict(compose()["services"]["hub"]["environment"])
    pw = tmp_path / "pw"
    pw.write_text("x" * 40)
    out = {}
    for k, v in env.items():
        v = re.sub(r"\$\{HUB_DB_PASSWORD[^}]*\}", "dbpw", str(v))
        out[k] = str(pw) if k == "HUB_KAFKA_SASL_PASSWORD_FILE" else v
    return out


def test_every_hub_variable_is_read_by_the_hub(tmp_path: Path) -> None:
    env = hub_env(tmp_path)
    unknown = [k for k in env if k.startswith("HUB_") and f'"{k}"' not in CONFIG_SOURCE]
    assert unknown == []
    s = load_settings(env)
    sec = s.kafka_security
    assert (sec.protocol, sec.mechanism, sec.username) == ("SASL_SSL", "SCRAM-SHA-512", "civic-hub")
    assert sec.password == "x" * 40 and str(sec.cafile) == "/run/secrets/ca.pem"
    assert s.tokens_path is not None, "real services need HUB_TOKENS"
    assert all(h.endswith(":9093") for h in s.require_kafka().split(","))


def test_the_workers_use_the_same_credentials() -> None:
    services = compose()["services"]
    assert services["worker"]["environment"] == {
        k: v
        for k, v in services["hub"]["environment"].items()
        if k not in ("HUB_API_BIND", "HUB_WORKERS")
    }
    for name in ("hub", "worker"):
        assert "kafka_civic-hub_password" in services[name]["secrets"]


def test_the_brokers_authenticate_and_authorize() -> None:
    start = (DEPLOY / "kafka" / "start.sh").read_text()
    props = dict(
        line.split("=", 1) for line in start.splitlines() if re.match(r"^[a-z][a-z.\-0-9]+=", line)
    )
    protocols = dict(p.split(":") for p in props["listener.security.protocol.map"].split(","))
    assert protocols == {"CLIENT": "SASL_SSL", "BROKER": "SASL_SSL", "CONTROLLER": "SSL"}
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert "PLAINTEXT" not in props["listeners"] + props["advertised.listeners"]
    for a in DEFAULT_AGENCIES:
        assert f"kafka_agency-{a}_password" in compose()["services"]["kafka1"]["secrets"]


def test_each_agency_writes_its_own_topic_only() -> None:
    acls = (DEPLOY / "acls.sh").read_text()
    assert f'AGENCIES="${{HUB_AGENCIES:-{",".join(DEFAULT_AGENCIES)}}}"' in acls
    grants = re.findall(r'--allow-principal "User:agency-\$a"(.*?)(?:\ndone)', acls, re.DOTALL)
    assert len(grants) == 1
    assert '--topic "agency.$a"' in grants[0] and "prefixed" not in grants[0]
    assert re.findall(r"--operation (\w+)", grants[0]) == ["Write", "Describe"]
    assert acls.count("User:agency-") == 1, "no other grant names an agency"


def test_the_api_is_published_only_through_tls() -> None:
    services = compose()["services"]
    published = {n: s["ports"] for n, s in services.items() if "ports" in s}
    assert published == {"tls": ["443:443"]}
    caddy = (DEPLOY / "Caddyfile").read_text()
    assert "reverse_proxy hub:8400" in caddy and "tls /run/secrets/api-chain.pem" in caddy


def test_the_scripts_parse() -> None:
    for script in ("secrets.sh", "acls.sh", "kafka/start.sh"):
        subprocess.run(["bash", "-n", str(DEPLOY / script)], check=True)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
def test_the_secrets_script_makes_what_compose_mounts(tmp_path: Path) -> None:
    work = tmp_path / "deploy"
    work.mkdir()
    shutil.copy(DEPLOY / "secrets.sh", work / "secrets.sh")
    out = subprocess.run(
        ["bash", str(work / "secrets.sh"), "hub.example.org"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    wanted = {Path(s["file"]).name for s in compose()["secrets"].values()} - {"tokens.toml"}
    made = {p.name for p in (work / "secrets").iterdir()}
    assert wanted <= made, wanted - made
    for p in (work / "secrets").iterdir():
        assert p.stat().st_mode & 0o077 == 0, f"{p.name} readable by others"
    password = (work / "secrets" / "kafka_civic-hub_password").read_text()
    assert password not in out.stdout + out.stderr
