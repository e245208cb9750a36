"""Facts of records folded into one view: the value of each field, the members of each
relation, and where each came from (provenance)."""

from __future__ import annotations

from typing import Any

import asyncpg

FACT_ROWS = (
    "SELECT 'f' AS k, field AS name, value, NULL::jsonb AS attrs, time, source, event_id,"
    " agency FROM entity_field WHERE entity_kind = {kind} AND entity_id IN ({ids})"
    " UNION ALL SELECT 'm', relation || chr(31) || member, NULL, attrs, time, source,"
    " event_id, agency FROM entity_member WHERE entity_kind = {kind} AND entity_id IN ({ids})"
)


def thread_sealed(thread: str) -> str:
    """SQL: whether the thread ``thread`` (an SQL expression naming a thread id) is sealed
    now, as a case read folds it: the latest ``sealed`` statement across its records. In an
    as-of read (:mod:`projections.reads.asof`) the thread is sealed if it was then or is now
    (``hub_sealed_now``, migration 052: the policy is today's)."""
    return (
        "(CASE WHEN hub_sealed_now(" + thread + ") = 'true'::jsonb THEN 'true'::jsonb ELSE"
        " (SELECT f.value FROM case_thread st JOIN entity_field f ON f.entity_kind = 'case'"
        " AND f.entity_id = st.case_id AND f.field = 'sealed' WHERE st.thread_id = "
        + thread
        + " ORDER BY f.time DESC, f.source DESC, f.event_id DESC LIMIT 1) END)"
    )


def fold_facts(
    rows: list[asyncpg.Record],
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The facts of several nodes read as one entity: each field's latest statement across
    them, each set member's earliest, all with provenance."""
    fields: dict[str, dict[str, Any]] = {}
    members: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        k = r["k"]
        if k not in ("f", "m"):
            continue
        stamp = (r["time"], r["source"], r["event_id"])
        fact = {
            "value": r["value"],
            "attrs": r["attrs"],
            "event_id": r["event_id"],
            "agency": r["agency"],
            "time": r["time"],
            "stamp": stamp,
        }
        if k == "f":
            cur = fields.get(r["name"])
            if cur is None or stamp > cur["stamp"]:
                fields[r["name"]] = fact
        else:
            relation, member = r["name"].split(chr(31), 1)
            rel = members.setdefault(relation, {})
            if member not in rel or stamp < rel[member]["stamp"]:
                rel[member] = {**fact, "member": member}
    listed = {
        rel: sorted(ms.values(), key=lambda m: (m["stamp"], m["member"]))
        for rel, ms in members.items()
    }
    return fields, listed


async def merged_facts(
    conn: asyncpg.Pool | asyncpg.Connection, kind: str, ids: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    rows = await conn.fetch(FACT_ROWS.format(kind="$1", ids="SELECT unnest($2::text[])"), kind, ids)
    return fold_facts(rows)


def field_value(fields: dict[str, dict[str, Any]], name: str) -> Any:
    f = fields.get(name)
    return f["value"] if f else None


def provenance(
    fields: dict[str, dict[str, Any]], hide: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    return {
        name: {"event_id": f["event_id"], "agency": f["agency"], "time": f["time"]}
        for name, f in sorted(fields.items())
        if name not in hide
    }


def split_record(rec: str) -> dict[str, str]:
    agency, kind, rid = rec.split(":", 2)
    return {"agency": agency, "kind": kind, "id": rid}
