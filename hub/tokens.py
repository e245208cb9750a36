"""Bearer tokens from a TOML file (../shared/CONTRACT.md section 6): token → user, agency, role."""

from __future__ import annotations

import hmac
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROLES = ("agency-system", "command-center", "investigator", "auditor")


class TokenFileError(ValueError):
    """The tokens file cannot be used; the message names the entry."""


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    agency: str
    role: str


class TokenBook:
    def __init__(self, entries: dict[str, Principal]):
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, token: str) -> Principal | None:
        # Compare against every entry in constant time per entry: no early exit on a prefix.
        found = None
        for known, principal in self._entries.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = principal
        return found

    @classmethod
    def load(cls, path: Path, agencies: tuple[str, ...]) -> TokenBook:
        try:
            doc = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise TokenFileError(f"tokens file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise TokenFileError(f"tokens file {path} is not valid TOML: {exc}") from None
        entries: dict[str, Principal] = {}
        for token, spec in (doc.get("tokens") or {}).items():
            if len(token) < 16:
                raise TokenFileError(f"{path}: a token must be at least 16 characters")
            if not isinstance(spec, dict):
                raise TokenFileError(f'{path}: [tokens."…"] must be a table')
            user, agency, role = spec.get("user"), spec.get("agency"), spec.get("role")
            if not isinstance(user, str) or not user:
                raise TokenFileError(f"{path}: a token has no user")
            if agency not in agencies:
                raise TokenFileError(f"{path}: user {user!r}: agency must be one of {agencies}")
            if role not in ROLES:
                raise TokenFileError(f"{path}: user {user!r}: role must be one of {ROLES}")
            entries[token] = Principal(user, agency, role)
        return cls(entries)


def write_demo_tokens(path: Path) -> dict[str, Principal]:
    """A tokens file for the demo: one token per role, random each time (never committed)."""
    people = {
        secrets.token_urlsafe(24): Principal("duty-officer-demo", "city", "command-center"),
        secrets.token_urlsafe(24): Principal("investigator-demo", "police", "investigator"),
        secrets.token_urlsafe(24): Principal("auditor-demo", "civil", "auditor"),
        secrets.token_urlsafe(24): Principal("civil-registry-system", "civil", "agency-system"),
    }
    lines = ["# Demo tokens written by `civic-hub up`; regenerated at every start.\n"]
    for token, p in people.items():
        lines.append(
            f'[tokens."{token}"]\nuser = "{p.user}"\nagency = "{p.agency}"\nrole = "{p.role}"\n\n'
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    path.chmod(0o600)
    return people
