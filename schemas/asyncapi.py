"""Generates the AsyncAPI 3.0 document of the hub's topics from the catalog.

python -m schemas.asyncapi            # print it
python -m schemas.asyncapi --write    # refresh schemas/asyncapi.yaml
python -m schemas.asyncapi --check    # exit 1 when the committed copy is stale (CI)
"""

from __future__ import annotations

import sys
from typing import Any

from schemas.catalog import SCHEMA_DIR, load_catalog
from schemas.notices import NOTICE_AGENCY, NOTICE_SOURCE, NOTICES
from schemas.topics import COORDINATION_TOPIC, DEADLETTER_TOPIC, DEFAULT_AGENCIES, agency_topic

OUT = SCHEMA_DIR / "asyncapi.yaml"

ENVELOPE = {
    "type": "object",
    "description": "CloudEvents 1.0, structured JSON (Civic Hub contract, section 2). The"
    " record key is the subject; (source, id) identify an event.",
    "required": ["specversion", "id", "source", "type", "time", "subject", "agency", "data"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string"},
        "source": {"type": "string"},
        "type": {"type": "string", "description": "<agency>.<thing>.<past-tense verb>"},
        "time": {"type": "string", "format": "date-time", "description": "RFC 3339 with an offset"},
        "subject": {"type": "string"},
        "agency": {
            "type": "string",
            "enum": [*DEFAULT_AGENCIES, "hub"],
            "description": 'must be the agency of the topic, or the event is forged; "hub" on'
            " hub.coordination",
        },
        "dataschema": {"type": "string", "description": "names the version: …/v2"},
        "data": {"type": "object"},
    },
}


def _strip(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}


def document() -> dict[str, Any]:
    catalog = load_catalog()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for agency in DEFAULT_AGENCIES:
        topic = agency_topic(agency)
        refs = {}
        for (t, v), entry in sorted(catalog.items()):
            if entry.agency != agency:
                continue
            name = f"{t}.v{v}"
            refs[name] = {"$ref": f"#/components/messages/{name}"}
            messages[name] = {
                "name": t,
                "title": f"{t} v{v}",
                "summary": entry.schema.get("description", ""),
                "contentType": "application/cloudevents+json",
                "payload": {
                    "allOf": [
                        {"$ref": "#/components/schemas/CloudEvent"},
                        {"properties": {"type": {"const": t}, "data": _strip(entry.schema)}},
                    ]
                },
            }
        channels[topic] = {
            "address": topic,
            "description": f"Inbound events of {agency}; written by {agency} only.",
            "messages": refs,
        }
        operations[f"{agency}-publishes"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
        }
    channels[DEADLETTER_TOPIC] = {
        "address": DEADLETTER_TOPIC,
        "description": "Every inbound record the hub could not accept. The value is the "
        "original bytes; headers hub.reason, hub.detail, hub.field, hub.event_id and "
        "hub.origin.topic|partition|offset say what and why.",
        "messages": {"rejected": {"$ref": "#/components/messages/rejected"}},
    }
    messages["rejected"] = {
        "name": "rejected",
        "contentType": "application/octet-stream",
        "payload": {"type": "string", "format": "binary"},
    }
    notice_refs = {}
    for t, shape in NOTICES.items():
        notice_refs[t] = {"$ref": f"#/components/messages/{t}"}
        messages[t] = {
            "name": t,
            "title": t,
            "summary": shape["description"],
            "contentType": "application/cloudevents+json",
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/CloudEvent"},
                    {
                        "properties": {
                            "type": {"const": t},
                            "agency": {"const": NOTICE_AGENCY},
                            "source": {"const": NOTICE_SOURCE},
                            "data": shape,
                        }
                    },
                ]
            },
        }
    channels[COORDINATION_TOPIC] = {
        "address": COORDINATION_TOPIC,
        "description": "Referrals, escalations and overdue notices the hub raises; subject is"
        " the thread's case id; the id is the same every time the same notice falls due.",
        "messages": notice_refs,
    }
    operations["hub-coordinates"] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{COORDINATION_TOPIC}"},
    }
    operations["hub-rejects"] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{DEADLETTER_TOPIC}"},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Civic Hub agency events",
            "version": "1",
            "description": "Generated from schemas/ by `python -m schemas.asyncapi "
            "--write`; do not edit by hand.",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": {"CloudEvent": ENVELOPE}, "messages": messages},
    }


def render() -> str:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover
        raise SystemExit("schemas.asyncapi needs PyYAML: pip install -e '.[dev]'") from exc
    return yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str]) -> int:
    text = render()
    if "--write" in argv:
        OUT.write_text(text)
        print(f"wrote {OUT}")
        return 0
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run `python -m schemas.asyncapi --write`", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
