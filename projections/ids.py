"""Deterministic hub ids: the same inputs give the same id live and in a rebuild."""

from __future__ import annotations

import hashlib


def hub_id(prefix: str, key: str) -> str:
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return f"{prefix}-{digest}"


def ref_key(agency: str, kind: str, record_id: str) -> str:
    return f"{agency}:{kind}:{record_id}"
