"""``civic-hub replay verify FILE``: an export checked offline, from the file alone (no hub,
no database), naming exactly what was altered.

1. The key: the bundle's public key must have the id it claims (and the published key's,
   when ``--public-key`` is given).
2. The checkpoints: each segment's checkpoint must verify with that key.
3. The chains: each segment is relinked from its first row's ``prev_hash``, each row's
   digest recomputed from its content when the bundle carries it (else the digest given),
   and must reach the signed checkpoint's hash; a row whose content no longer gives its
   hash, a row or digest missing, is named.
4. The chronology: built again from the events and audit rows the bundle carries (the same
   functions the hub used, :mod:`hub.chronology`), item by item: an item altered, dropped,
   added or moved is named.
5. The seal: the hub's signature over the whole bundle as it left the hub."""

from __future__ import annotations

import argparse
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub import chronology as chrono
from hub.checkpoints import key_id, message
from hub.replay_bundle import FORMAT, audit_digest, event_digest, parse_time, seal_message
from projections.chain import link


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rows: int = 0  # rows relinked
    items: int = 0
    key_id: str = ""
    pinned: bool = False  # checked against a key the verifier was given, not the bundle's own

    @property
    def intact(self) -> bool:
        return not self.problems


def _name(e: dict[str, Any]) -> str:
    c = e.get("content")
    if e.get("chain") == "audit" or str(e.get("ref", "")).startswith("audit"):
        what = f"audit row seq {e.get('seq')}"
        if c:
            what += f" ({c.get('user_name')} {c.get('method')} {c.get('path')})"
        return what
    what = f"event at {e.get('chain')} seq {e.get('seq')}"
    return what + (f" ({c.get('source')}, {c.get('event_id')})" if c else " (withheld)")


def _key(bundle: dict[str, Any], published: Ed25519PublicKey | None, v: Verdict) -> Any:
    pk = bundle.get("proofs", {}).get("public_key") or {}
    try:
        key = serialization.load_pem_public_key(str(pk.get("pem", "")).encode())
    except ValueError:
        v.problems.append("the bundle's public key is not a PEM public key")
        return None
    if not isinstance(key, Ed25519PublicKey):
        v.problems.append("the bundle's public key is not an Ed25519 key")
        return None
    v.key_id = key_id(key)
    if v.key_id != pk.get("key_id"):
        v.problems.append(f"the bundle's public key has id {v.key_id}, not {pk.get('key_id')!r}")
    if published is not None and key_id(published) != v.key_id:
        v.problems.append(
            f"the bundle's key {v.key_id} is not the published key {key_id(published)}"
        )
        return published  # the checks below use the key the verifier trusts
    if published is None:
        v.notes.append(f"key {v.key_id}: compare it with the hub's published key id")
    else:
        v.pinned = True
    return key


def _checkpoint_ok(key: Ed25519PublicKey, chain: str, cp: dict[str, Any]) -> bool:
    try:
        msg = message(
            chain, int(cp["last_seq"]), bytes.fromhex(cp["last_hash"]), parse_time(cp["at"])
        )
        key.verify(bytes.fromhex(cp["signature"]), msg)
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def _digest_of(e: dict[str, Any]) -> bytes:
    return audit_digest(e["content"]) if e["chain"] == "audit" else event_digest(e["content"])


def _segments(bundle: dict[str, Any], key: Any, v: Verdict, advance: Callable[[int], None]) -> set:
    entries = {(e.get("chain"), e.get("seq")): e for e in [*bundle["events"], *bundle["audit"]]}
    covered: set[tuple[str, int]] = set()
    for s in bundle["proofs"]["segments"]:
        chain, lo, hi, cp = s["chain"], int(s["from_seq"]), int(s["to_seq"]), s["checkpoint"]
        where = f"{chain} seq {lo}–{hi}"
        if key is not None and not _checkpoint_ok(key, chain, cp):
            v.problems.append(
                f"{where}: the checkpoint (seq {cp.get('last_seq')}) is not signed"
                " by the key: its signature or content was altered"
            )
            continue
        if int(cp["last_seq"]) != hi or len(s["digests"]) != hi - lo + 1:
            v.problems.append(f"{where}: the segment does not end at its checkpoint's seq")
            continue
        prev = bytes.fromhex(s["prev_hash"])
        broken = False
        for n, seq in enumerate(range(lo, hi + 1)):
            e = entries.get((chain, seq))
            given = s["digests"][n]
            if e is not None and e.get("content") is not None:
                try:
                    d = _digest_of(e)
                except (KeyError, TypeError, ValueError) as exc:
                    v.problems.append(f"{_name(e)}: altered: its content cannot be read ({exc})")
                    broken = True
                    break
            elif given is not None:
                d = bytes.fromhex(given)
            else:
                v.problems.append(
                    f"{chain} seq {seq}: removed: neither the row nor its digest is in the bundle"
                )
                broken = True
                break
            before, prev = prev, link(prev, seq, d)
            v.rows += 1
            if e is not None:
                covered.add((chain, seq))
                if prev.hex() != e.get("hash"):
                    own = e.get("prev_hash") and link(bytes.fromhex(e["prev_hash"]), seq, d)
                    if own and own.hex() == e.get("hash") and before.hex() != e["prev_hash"]:
                        why = "a row or digest before it in the segment was altered or removed"
                    else:
                        why = "altered: its content does not match its hash"
                    v.problems.append(f"{_name(e)}: {why}")
                    broken = True
                    break
        advance(hi - lo + 1)
        if not broken and prev.hex() != cp["last_hash"]:
            v.problems.append(
                f"{where}: the rows do not link to the signed checkpoint (seq {hi}):"
                " a row or digest was altered, removed or inserted"
            )
    return covered


def _rebuilt(e: dict[str, Any]) -> dict[str, Any] | None:
    if e.get("content") is None:
        return None
    if e["chain"] == "audit" or str(e["ref"]).startswith("audit"):
        return chrono.read_item(e["content"], e["ref"])
    return chrono.event_item(e["content"], e.get("known_at"), e["ref"])


def _chronology(bundle: dict[str, Any], v: Verdict) -> None:
    items = bundle["chronology"]["items"]
    v.items = len(items)
    by_ref: dict[str, dict[str, Any]] = {}
    for e in [*bundle["events"], *bundle["audit"]]:
        by_ref[str(e["ref"])] = e
    seen = Counter(str(i.get("ref")) for i in items)
    for n, item in enumerate(items, 1):
        ref = str(item.get("ref"))
        label = f"chronology item {n} ({item.get('happened_at')}, {item.get('type')})"
        e = by_ref.get(ref)
        if e is None:
            v.problems.append(
                f"{label}: inserted: no event or audit row of the bundle is behind it (ref {ref})"
            )
            continue
        if seen[ref] > 1:
            v.problems.append(f"{label}: the item of {_name(e)} appears {seen[ref]} times")
            continue
        want = _rebuilt(e)
        if want is None:  # withheld: only that it is this row's item, and when it was known
            if item.get("type") != "withheld" and e.get("withheld") == "policy":
                v.problems.append(f"{label}: altered: the row is withheld, the item is not")
            elif e.get("known_at", item.get("known_at")) != item.get("known_at"):
                v.problems.append(f"{label}: altered: known_at differs from {_name(e)}")
            continue
        diff = sorted(k for k in {*want, *item} if want.get(k) != item.get(k))
        if diff:
            v.problems.append(
                f"{label}: altered: {', '.join(diff)} differ from {_name(e)},"
                " which it was built from"
            )
    for ref, e in by_ref.items():
        if not seen[ref]:
            v.problems.append(f"{_name(e)}: its chronology item was dropped")
    tz = bundle.get("timezone") or "UTC"
    try:
        keys = [chrono.sort_key(i, tz) for i in items]
    except (KeyError, ValueError, TypeError, AttributeError):
        v.problems.append("the chronology holds an item whose times cannot be read")
        return
    for n in range(1, len(keys)):
        if keys[n] < keys[n - 1]:
            v.problems.append(f"chronology item {n + 1}: out of order (before item {n})")
            break


def verify_bundle(
    bundle: dict[str, Any],
    published: Ed25519PublicKey | None = None,
    advance: Callable[[int], None] = lambda n: None,
) -> Verdict:
    v = Verdict()
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        v.problems.append(f"not a replay bundle (format {FORMAT!r} expected)")
        return v
    try:
        key = _key(bundle, published, v)
        covered = _segments(bundle, key, v, advance)
        for e in [*bundle["events"], *bundle["audit"]]:
            listed = e["ref"] in bundle["proofs"].get("unproven", [])
            if (e.get("chain"), e.get("seq")) not in covered and not listed:
                v.problems.append(f"{_name(e)}: no proof covers it")
        if bundle["proofs"].get("unproven"):
            v.notes.append(
                f"{len(bundle['proofs']['unproven'])} row(s) came after the last"
                " signed checkpoint: only the bundle's seal covers them"
            )
        _chronology(bundle, v)
        v.notes += [f"not covered: {x}" for x in bundle["proofs"].get("not_covered", [])]
        seal = bundle.get("seal") or {}
        try:
            if key is None:
                raise InvalidSignature
            key.verify(bytes.fromhex(seal.get("signature", "")), seal_message(bundle))
        except (InvalidSignature, ValueError):
            v.problems.append(
                "the bundle's seal does not verify: the bundle changed after the hub made it"
            )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        v.problems.append(f"the bundle is malformed: {type(exc).__name__}: {exc}")
    return v


def load(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def report(v: Verdict, out: Callable[[str], None] = print) -> int:
    out(f"key {v.key_id or '?'}: {v.rows:,} chain rows relinked, {v.items:,} chronology items")
    for n in v.notes:
        out(f"note: {n}")
    if v.intact and not v.pinned:
        # Anyone can re-sign an altered bundle with a key of their own and carry that key:
        # only the hub's published key proves where the signatures come from.
        out(
            f"consistent with the key the bundle carries ({v.key_id}), which proves nothing"
            " by itself: verify again with --public-key and the hub's published key"
            " (`civic-hub audit public-key` on the hub prints it; or HUB_AUDIT_PUBLIC_KEY)"
        )
        return 2
    if v.intact:
        out(
            "intact: every event, audit row and chronology item is as the hub recorded and"
            " signed it with its published key"
        )
        return 0
    for p in v.problems:
        out(f"ALTERED {p}")
    return 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="the bundle (JSON) that POST /v1/replay/exports gave")
    p.add_argument(
        "--public-key",
        type=Path,
        default=os.environ.get("HUB_AUDIT_PUBLIC_KEY") or None,
        help="the hub's published Ed25519 key (PEM; default HUB_AUDIT_PUBLIC_KEY); without"
        " it the bundle is checked only against the key it carries, and the exit code is 2",
    )
