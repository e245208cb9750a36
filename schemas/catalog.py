"""The event catalog: JSON Schemas under ``schemas/<agency>/<type>.v<N>.json``, compiled once.

Schemas share shapes through ``common.json``; references to it are inlined at load time
so each type compiles to one fast validator (fastjsonschema). Each field carries an
``x-grade`` (public / internal / sensitive / secret) for the access policy.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson

from schemas.envelope import Envelope, Rejected, parse_time

SCHEMA_DIR = Path(__file__).parent
_FILE = re.compile(r"^(?P<type>[a-z0-9_-]+\.[a-z0-9_-]+\.[a-z0-9_-]+)\.v(?P<version>\d+)\.json$")
GRADES = ("public", "internal", "sensitive", "secret")


@dataclass(frozen=True)
class SchemaEntry:
    type: str
    version: int
    agency: str
    path: Path
    schema: dict[str, Any]
    validate: Callable[[Any], Any]
    # where the data holds instants (``common.json#/definitions/timestamp``): key paths,
    # ``*`` for every item of an array
    instants: tuple[tuple[str, ...], ...] = ()


def _inline(node: Any, common: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("common.json#/definitions/"):
            name = ref.rsplit("/", 1)[1]
            return _inline(copy.deepcopy(common["definitions"][name]), common)
        return {k: _inline(v, common) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, common) for v in node]
    return node


def _instant_paths(node: Any, pattern: str, at: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """The key paths of ``node`` (a schema, references inlined) whose values are instants
    (strings of the timestamp ``pattern``)."""
    out: set[tuple[str, ...]] = set()
    if not isinstance(node, dict):
        return out
    if node.get("pattern") == pattern:
        out.add(at)
    for k in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(k) or []:
            out |= _instant_paths(sub, pattern, at)
    for name, sub in (node.get("properties") or {}).items():
        out |= _instant_paths(sub, pattern, (*at, name))
    if isinstance(node.get("items"), dict):
        out |= _instant_paths(node["items"], pattern, (*at, "*"))
    return out


def _instants(data: Any, path: tuple[str, ...], at: str = "") -> list[tuple[str, str]]:
    """The values at ``path`` in ``data`` with their dotted field names."""
    if not path:
        return [(at, data)] if isinstance(data, str) else []
    head, rest = path[0], path[1:]
    if head == "*":
        if not isinstance(data, list):
            return []
        return [x for i, v in enumerate(data) for x in _instants(v, rest, f"{at}.{i}")]
    if not isinstance(data, dict) or head not in data:
        return []
    return _instants(data[head], rest, f"{at}.{head}" if at else head)


def check_instants(entry: SchemaEntry, data: Any) -> None:
    """Every instant in ``data`` is one the hub keeps (:func:`schemas.envelope.parse_time`:
    a real date and time, years 1900-2200, as the event's own ``time``), so the gateway and
    the intake refuse what the projection could not take; raise :class:`Rejected`."""
    for path in entry.instants:
        for name, value in _instants(data, path):
            try:
                parse_time(value)
            except ValueError as exc:
                raise Rejected(
                    "time-out-of-range", f"data.{name} {value!r} is {exc}", field=name
                ) from None


def _compile(schema: dict[str, Any]) -> Callable[[Any], Any]:
    # x-grade is our own annotation keyword; validators ignore unknown keywords.
    return fastjsonschema.compile(schema, formats={"date": r"^\d{4}-\d{2}-\d{2}$"})


@cache
def load_catalog(root: Path = SCHEMA_DIR) -> dict[tuple[str, int], SchemaEntry]:
    common = orjson.loads((root / "common.json").read_bytes())
    out: dict[tuple[str, int], SchemaEntry] = {}
    for path in sorted(root.glob("*/*.json")):
        m = _FILE.match(path.name)
        if not m or path.parent.name == "examples":
            continue
        etype, version = m.group("type"), int(m.group("version"))
        agency = etype.split(".", 1)[0]
        if path.parent.name != agency:
            raise ValueError(f"{path}: type {etype} belongs under schemas/{agency}/")
        schema = _inline(orjson.loads(path.read_bytes()), common)
        instants = tuple(
            sorted(_instant_paths(schema, common["definitions"]["timestamp"]["pattern"]))
        )
        out[(etype, version)] = SchemaEntry(
            etype, version, agency, path, schema, _compile(schema), instants
        )
    return out


_DEFAULT = load_catalog()


def known_types(root: Path = SCHEMA_DIR) -> set[str]:
    return {t for (t, _v) in load_catalog(root)}


def _explain(exc: fastjsonschema.JsonSchemaValueException) -> tuple[str | None, str]:
    """The dotted field a rejection is about, and a sentence an agency developer can act on."""
    parts = [str(p) for p in (exc.path or [])[1:]]
    if exc.rule == "required" and isinstance(exc.value, dict):
        missing = [k for k in exc.rule_definition if k not in exc.value]
        if missing:
            field = ".".join([*parts, missing[0]])
            return field, f"data.{field} is required (missing: {', '.join(missing)})"
    if exc.rule == "additionalProperties" and isinstance(exc.value, dict):
        return (
            ".".join(parts) or None,
            exc.message + " not in the schema (check the spelling, or the schema version)",
        )
    return ".".join(parts) or None, exc.message


def validate_data(env: Envelope, root: Path | None = None) -> None:
    """Check ``env.data`` against the schema of its type and version; raise :class:`Rejected`."""
    catalog = _DEFAULT if root is None else load_catalog(root)
    entry = catalog.get((env.type, env.schema_version))
    if entry is None:
        versions = sorted(v for (t, v) in catalog if t == env.type)
        if versions:
            raise Rejected(
                "unknown-version",
                f"{env.type} has no schema v{env.schema_version} (known: "
                + ", ".join(f"v{v}" for v in versions)
                + ")",
                field="dataschema",
            )
        raise Rejected(
            "unknown-type", f"type {env.type!r} is not in the event catalog", field="type"
        )
    try:
        entry.validate(env.data)
    except fastjsonschema.JsonSchemaValueException as exc:
        field, why = _explain(exc)
        raise Rejected("invalid-data", why, field=field) from None
    check_instants(entry, env.data)


def latest_versions(root: Path = SCHEMA_DIR) -> dict[str, int]:
    out: dict[str, int] = {}
    for t, v in load_catalog(root):
        out[t] = max(v, out.get(t, 0))
    return out


def upcast(env: Envelope) -> Envelope:
    """The event as its type's newest version reads it (the original stays in ``env.raw``)."""
    from schemas.upcasters import upcast_data

    version, data = upcast_data(env.type, env.schema_version, env.data)
    if version == env.schema_version:
        return env
    return replace(env, data=data)


def field_grades(etype: str, version: int = 1, root: Path = SCHEMA_DIR) -> dict[str, str]:
    """Map each dotted field path of a type to its data grade (for the access policy)."""
    entry = load_catalog(root)[(etype, version)]
    out: dict[str, str] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        grade = node.get("x-grade")
        if grade and prefix:
            out[prefix] = grade
        for sub in node.get("allOf", []):
            walk(sub, prefix)
        for k, v in node.get("properties", {}).items():
            walk(v, f"{prefix}.{k}" if prefix else k)
        items = node.get("items")
        if isinstance(items, dict):
            walk(items, f"{prefix}[]")

    walk(entry.schema, "")
    return out
