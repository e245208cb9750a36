"""Schema evolution rules, checked in CI (``python -m schemas.compat``):

1. A published schema version never changes: ``catalog.lock.json`` holds each file's hash.
   Change a type by adding version N+1 and an upcaster, then ``--lock`` to publish it.
2. Every version can be read as the newest: each example of version k, upcast, must be
   valid under the newest version. A change that old events could not be read under is
   refused.
3. Every example file agrees with its schema: valid ones pass, invalid ones fail on the
   field they name.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson

from schemas.catalog import SCHEMA_DIR, load_catalog
from schemas.upcasters import UPCASTERS, upcast_data

LOCK = SCHEMA_DIR / "catalog.lock.json"
EXAMPLES = SCHEMA_DIR / "examples"


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def current_hashes(root: Path = SCHEMA_DIR) -> dict[str, str]:
    files = [root / "common.json", *sorted(e.path for e in load_catalog(root).values())]
    return {str(p.relative_to(root)): _hash(p) for p in files}


def examples(etype: str, version: int, root: Path = SCHEMA_DIR) -> dict[str, Any]:
    path = root / "examples" / f"{etype}.v{version}.json"
    if not path.exists():
        return {"valid": [], "invalid": []}
    return orjson.loads(path.read_bytes())


def problems(root: Path = SCHEMA_DIR, lock: Path = LOCK) -> list[str]:
    out: list[str] = []
    catalog = load_catalog(root)
    locked: dict[str, str] = orjson.loads(lock.read_bytes()) if lock.exists() else {}
    now = current_hashes(root)
    for name, digest in locked.items():
        if name not in now:
            out.append(f"{name}: a published schema was removed; old events need it")
        elif now[name] != digest:
            out.append(
                f"{name}: a published schema changed; add a new version with an "
                "upcaster instead, then run `python -m schemas.compat --lock`"
            )
    for name in now:
        if name not in locked:
            out.append(f"{name}: not yet published; run `python -m schemas.compat --lock`")
    latest: dict[str, int] = {}
    for t, v in catalog:
        latest[t] = max(v, latest.get(t, 0))
    for (t, v), entry in sorted(catalog.items()):
        ex = examples(t, v, root)
        if not ex["valid"]:
            out.append(f"{t} v{v}: no valid examples in schemas/examples/{t}.v{v}.json")
        for i, data in enumerate(ex["valid"]):
            try:
                entry.validate(data)
            except fastjsonschema.JsonSchemaValueException as exc:
                out.append(f"{t} v{v}: valid example {i} fails: {exc.message}")
                continue
            reached, upcast = upcast_data(t, v, data)
            if reached != latest[t]:
                out.append(f"{t} v{v}: no upcaster chain to v{latest[t]} (stops at v{reached})")
                continue
            try:
                catalog[(t, latest[t])].validate(upcast)
            except fastjsonschema.JsonSchemaValueException as exc:
                out.append(f"{t} v{v}: example {i} cannot be read as v{latest[t]}: {exc.message}")
        if not ex["invalid"]:
            out.append(f"{t} v{v}: no invalid examples")
        for i, case in enumerate(ex["invalid"]):
            try:
                entry.validate(case["data"])
                out.append(f"{t} v{v}: invalid example {i} passes ({case.get('why')})")
            except fastjsonschema.JsonSchemaValueException:
                pass
    for t, v in UPCASTERS:
        if (t, v) not in catalog or (t, v + 1) not in catalog:
            out.append(f"upcaster {t} v{v}→v{v + 1}: both versions must have a schema")
    return out


def main(argv: list[str]) -> int:
    if "--lock" in argv:
        LOCK.write_bytes(
            orjson.dumps(current_hashes(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
            + b"\n"
        )
        print(f"locked {LOCK}")
    found = [p for p in problems() if "--lock" not in argv or "not yet published" not in p]
    for p in found:
        print(p, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
