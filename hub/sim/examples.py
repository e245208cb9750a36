"""Writes ``schemas/examples/<type>.v<N>.json`` (a developer tool, run when a type is added):
valid examples taken from the simulated city, invalid ones made from them by breaking one
rule each (a required field dropped, a wrong type, an unknown field), each saying why.

    python -m hub.sim.examples
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from hub.sim import city, story
from schemas.catalog import SCHEMA_DIR, load_catalog
from schemas.upcasters import upcast_data


def _first_string_field(schema: dict[str, Any]) -> str | None:
    for name, prop in schema.get("properties", {}).items():
        sub = prop.get("allOf", [prop])[0]
        if sub.get("type") == "string":
            return name
    return None


def main() -> None:
    samples: dict[str, list[dict[str, Any]]] = {}
    events = [e.event for e in city.simulate(city.SimConfig(seed=3, events=20_000))]
    for e in events + story.story():
        lst = samples.setdefault(e["type"], [])
        if len(lst) < 2:
            lst.append(e["data"])
    out_dir = SCHEMA_DIR / "examples"
    out_dir.mkdir(exist_ok=True)
    for (t, v), entry in sorted(load_catalog().items()):
        valid = []
        for data in samples.get(t, []):
            if v > 1:
                _, data = upcast_data(t, 1, data)
            valid.append(data)
        path = out_dir / f"{t}.v{v}.json"
        if not valid:  # a type the simulated city does not send yet: keep its written examples
            print(f"kept {path.relative_to(SCHEMA_DIR.parent)} (no simulated samples)")
            continue
        base = valid[0]
        invalid = []
        required = entry.schema.get("required", [])
        if required:
            d = copy.deepcopy(base)
            d.pop(required[0], None)
            invalid.append({"why": f"required field {required[0]!r} missing", "data": d})
        field = _first_string_field(entry.schema)
        if field:
            d = copy.deepcopy(base)
            d[field] = 12345
            invalid.append({"why": f"{field!r} must be a string", "data": d})
        d = copy.deepcopy(base)
        d["unexpected_field"] = "x"
        invalid.append({"why": "a field the schema does not define", "data": d})
        path.write_bytes(
            orjson.dumps({"valid": valid, "invalid": invalid}, option=orjson.OPT_INDENT_2) + b"\n"
        )
        print(f"wrote {path.relative_to(SCHEMA_DIR.parent)}")


if __name__ == "__main__":
    main()
