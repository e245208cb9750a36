"""The chronology of an investigation (contract section 8): what every agency recorded about
chosen persons, cases and places, who read them through the hub and why, and the hub's
notices, in one list ordered by ``happened_at`` then ``known_at``.

Items are built by pure functions of the archive and audit rows (:func:`event_item`,
:func:`read_item`, :func:`withheld_item`, :func:`ordered`), so an exported bundle's
chronology can be built again offline from the rows it carries (:mod:`hub.bundle_verify`).
Restricted content is masked as the policy says for the reader: an event of a sealed
thread, about a record the reader's agency may not see (a suspect) or of assistance is an
item that says it exists and whom to ask, no more; a read whose path names such a thing
is masked the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from hub.policy import Policy
from hub.tokens import Principal
from projections.reads import chronology as reads
from schemas.catalog import field_grades, load_catalog

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
ASSISTANCE_TYPES = ("civil.assistance.granted",)  # what person.assistance restricts
KIND_RANK = {"event": 0, "notice": 1, "read": 2}
NEVER = datetime.max.replace(tzinfo=UTC)
LIMITS = (
    "Only what agencies shared with the hub is here: what an agency recorded but never sent"
    " to the hub cannot be shown, and its absence here proves nothing.",
    "happened_at is the agency's own time (a date only where precision is 'day', ordered at"
    " the start of that day in the district's zone); known_at is when the hub had taken the event"
    " in: the log's time of the batch it came in, to the end of that millisecond, the instant"
    " from which a replay (GET /v1/replay/…?known_at=) shows it; an event archived before"
    " that was recorded has the log's time of its own record, or none. The live read model"
    " showed an event once its batch was applied, usually tens of milliseconds after its"
    " known_at and seconds behind a backlog: a read audited within that gap may not have"
    " seen it.",
    "Reads are the reads the hub audited: a person's under any of its ids; a case's through"
    " its persons with a path naming the case, or a replay of it; a place's when a replay"
    " named it (other reads of a place are audited under its residents: add them as persons).",
)


@cache
def date_fields(etype: str, version: int) -> tuple[str, ...]:
    """The top-level fields of a type that hold a date only (``YYYY-MM-DD``, schema order):
    the first one present says when it happened (died on, moved on, assistance from)."""
    entry = load_catalog().get((etype, version))
    if entry is None:
        return ()
    out = []
    for name, node in (entry.schema.get("properties") or {}).items():
        nodes = [node, *node.get("allOf", [])]
        if any(n.get("pattern") == DATE_PATTERN for n in nodes):
            out.append(name)
    return tuple(out)


@cache
def secret_fields(etype: str, version: int) -> tuple[str, ...]:
    """Dotted paths of a type's secret-graded fields (identity numbers, phones, amounts)."""
    if (etype, version) not in load_catalog():
        return ()
    return tuple(k for k, g in field_grades(etype, version).items() if g == "secret")


def has_secret(etype: str, version: int, data: Any) -> bool:
    """Whether the event's data holds a value of a secret-graded field."""

    def present(node: Any, parts: list[str]) -> bool:
        if not parts:
            return node is not None
        head, rest = parts[0], parts[1:]
        if head.endswith("[]"):
            items = node.get(head[:-2]) if isinstance(node, dict) else None
            return isinstance(items, list) and any(present(i, rest) for i in items)
        return isinstance(node, dict) and head in node and present(node[head], rest)

    return any(present(data, p.split(".")) for p in secret_fields(etype, version))


def _is_date(text: str) -> bool:
    """A real date (the schemas' pattern lets 2026-02-30 through: then the agency's time)."""
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_item(content: Mapping[str, Any], known_at: str | None, ref: str | None) -> dict:
    """An agency's event or a hub notice, from its archived content (``time`` as ISO text)."""
    data = content.get("data") or {}
    item: dict[str, Any] = {
        "happened_at": content["time"],
        "known_at": known_at,
        "agency": content["agency"],
        "kind": "notice" if content["agency"] == "hub" else "event",
        "type": content["type"],
        "summary": content["summary"],
        "event_id": content["event_id"],
        "source": content["source"],
        "ref": ref,
    }
    for name in date_fields(content["type"], content["version"]):
        value = data.get(name) if isinstance(data, dict) else None
        if isinstance(value, str) and _is_date(value):
            item["happened_at"], item["precision"] = value, "day"
            break
    return item


def withheld_item(
    happened_at: str,
    known_at: str | None,
    agency: str,
    kind: str,
    ask: Iterable[str],
    ref: str | None,
) -> dict:
    """An item the reader may not see: that it exists, when, and whom to ask; not what."""
    who = sorted(set(ask))
    return {
        "happened_at": happened_at,
        "known_at": known_at,
        "agency": agency,
        "kind": kind,
        "type": "withheld",
        "summary": "withheld by the access policy; ask " + ", ".join(who),
        "withheld": {"ask": who},
        "ref": ref,
    }


def read_item(content: Mapping[str, Any], ref: str) -> dict:
    """A read the hub audited: who, when, what, why, with which outcome."""
    at = content["at"]
    item: dict[str, Any] = {
        "happened_at": at,
        "known_at": at,
        "agency": content["agency"],
        "kind": "read",
        "type": f"read.{content['outcome']}",
        "summary": f"{content['user_name']} ({content['role']}, {content['agency']})"
        f" {content['method']} {content['path']}: {content['outcome']}",
        "user": content["user_name"],
        "purpose": content["purpose"],
        "ref": ref,
    }
    if content.get("case_ref"):
        item["case_ref"] = content["case_ref"]
    return item


def sort_key(item: Mapping[str, Any], tz: str) -> tuple[Any, ...]:
    """happened_at (a date at the start of its day in ``tz``), then known_at, then kind."""
    h = item["happened_at"]
    if item.get("precision") == "day":
        when = datetime.combine(date.fromisoformat(h), time(), ZoneInfo(tz))
    else:
        when = datetime.fromisoformat(h.replace("Z", "+00:00"))
    known = (
        datetime.fromisoformat(item["known_at"].replace("Z", "+00:00"))
        if item.get("known_at")
        else NEVER
    )
    return (when, known, KIND_RANK.get(item["kind"], 9), item.get("ref") or "")


def ordered(items: Iterable[dict], tz: str) -> list[dict]:
    return sorted(items, key=lambda i: sort_key(i, tz))


def in_window(
    item: Mapping[str, Any], start: datetime | None, end: datetime | None, tz: str
) -> bool:
    when = sort_key(item, tz)[0]
    return (start is None or when >= start) and (end is None or when < end)


# -- from the read model --------------------------------------------------------------------


def archive_content(r: Mapping[str, Any]) -> dict[str, Any]:
    """An archive row's hashed content as JSON-ready values (the bundle's ``content``)."""
    return {
        "chain": r["chain"],
        "offset": r["chain_offset"],
        "source": r["source"],
        "event_id": r["event_id"],
        "type": r["type"],
        "agency": r["agency"],
        "time": iso(r["time"]),
        "subject": r["subject"],
        "version": r["version"],
        "data": r["data"],
        "summary": r["summary"],
    }


def audit_content(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "at": iso(r["at"]),
        "user_name": r["user_name"],
        "agency": r["agency"],
        "role": r["role"],
        "client": r["client"],
        "method": r["method"],
        "path": r["path"],
        "purpose": r["purpose"],
        "subject_ids": list(r["subject_ids"] or []),
        "outcome": r["outcome"],
        "case_ref": r["case_ref"],
    }


def event_ref(r: Mapping[str, Any]) -> str | None:
    return f"archive:{r['chain']}#{r['chain_seq']}" if r["chain"] else None


def audit_ref(r: Mapping[str, Any]) -> str:
    return f"audit#{r['seq']}" if r["seq"] is not None else f"audit-id#{r['id']}"


@dataclass
class Chronology:
    subjects: reads.Subjects
    start: datetime | None
    end: datetime | None
    tz: str
    items: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # archive rows, with "withheld" (ask)
    reads: list[dict] = field(default_factory=list)  # audit rows, with "withheld" (ask)

    @property
    def masked(self) -> bool:
        return any(i["type"] == "withheld" for i in self.items)

    def limits(self) -> list[str]:
        out = list(LIMITS)
        held = [i for i in self.items if i["type"] == "withheld"]
        if held:
            who = sorted({a for i in held for a in i["withheld"]["ask"]})
            out.append(
                f"{len(held)} item(s) are withheld by the access policy for your agency:"
                f" they exist, their content is not shown; ask {', '.join(who)}."
            )
        if self.subjects.missing:
            out.append("Not known to the hub: " + ", ".join(self.subjects.missing) + ".")
        return out

    def answer(self) -> dict[str, Any]:
        counts = {k: sum(1 for i in self.items if i["kind"] == k) for k in KIND_RANK}
        return {
            "subjects": {
                "persons": self.subjects.persons,
                "cases": self.subjects.cases,
                "places": self.subjects.places,
            },
            "window": {"from": iso(self.start), "to": iso(self.end)},
            "items": self.items,
            "counts": {**counts, "withheld": sum(1 for i in self.items if i["type"] == "withheld")},
            "limits": self.limits(),
        }


def withholder(policy: Policy, principal: Principal, restr: reads.Restrictions) -> Any:
    ask_record = policy.withhold(principal)
    sealed_hidden = principal.agency not in policy.sealed_visible_to

    def ask(etype: str, touched: Sequence[str]) -> frozenset[str] | None:
        who: set[str] = set()
        for t in touched:
            kind, _, eid = t.partition(":")
            if kind == "record":
                w = ask_record(
                    eid, restr.record_roles.get(eid, []), restr.record_sealed.get(eid, False)
                )
                who |= w or set()
            elif kind == "case" and sealed_hidden and restr.case_sealed.get(eid):
                who |= policy.sealed_visible_to
        if etype in ASSISTANCE_TYPES and principal.agency not in policy.assistance_visible_to:
            who |= policy.assistance_visible_to
        return frozenset(who) if who else None

    return ask


def _restricted_ids(events: list[dict]) -> dict[str, frozenset[str]]:
    """Ids a read shown must not name, with whom to ask: the case nodes and record ids (and
    the agency's own case or resident id in them) that withheld events touched."""
    out: dict[str, frozenset[str]] = {}
    for e in events:
        if e["withheld"] and e["type"] not in ASSISTANCE_TYPES:
            for t in e["touched"] or []:
                kind, _, eid = t.partition(":")
                ids = [eid] if kind == "case" else []
                if kind == "record":
                    ids = [eid, eid.rsplit(":", 1)[-1].split("/", 1)[0]]
                for x in ids:
                    if len(x) >= 4:
                        out[x] = out.get(x, frozenset()) | e["withheld"]
    return out


async def build(
    conn: asyncpg.Pool | asyncpg.Connection,
    policy: Policy,
    principal: Principal,
    persons: Sequence[str],
    cases: Sequence[str],
    places: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    tz: str,
) -> Chronology:
    subjects = await reads.resolve(conn, persons, cases, places)
    out = Chronology(subjects, start, end, tz)
    rows = [dict(r.items()) for r in await reads.events(conn, subjects)]
    touched = [t for r in rows for t in r["touched"] or []]
    restr = await reads.restrictions(
        conn,
        [t.partition(":")[2] for t in touched if t.startswith("record:")],
        [t.partition(":")[2] for t in touched if t.startswith("case:")],
    )
    ask = withholder(policy, principal, restr)
    for r in rows:
        r["withheld"] = ask(r["type"], r["touched"] or [])
        known = iso(r["known_at"])
        if r["withheld"]:
            kind = "notice" if r["agency"] == "hub" else "event"
            item = withheld_item(
                iso(r["time"]) or "", known, r["agency"], kind, r["withheld"], event_ref(r)
            )
        else:
            item = event_item(archive_content(r), known, event_ref(r))
        if in_window(item, start, end, tz):
            out.events.append(r)
            out.items.append(item)
    hidden = _restricted_ids(rows)
    case_persons = []  # a case read is audited under its persons: only for cases asked
    if subjects.cases:
        case_persons = await reads.persons_of_cases(conn, sorted(subjects.case_nodes))
    for a in await reads.reads(conn, subjects, case_persons, start, end):
        r = dict(a.items())
        text = f"{r['path']} {r['purpose'] or ''} {r.get('case_ref') or ''}"
        who = [ask_of for x, ask_of in hidden.items() if x in text]
        r["withheld"] = frozenset().union(*who) if who else None
        # the row's subjects (a replay's cover a thread's every node): not in an export
        r["subjects_hidden"] = any(x in hidden for x in r["subject_ids"] or [])
        if r["withheld"]:
            item = withheld_item(
                iso(r["at"]) or "", iso(r["at"]), r["agency"], "read", r["withheld"], audit_ref(r)
            )
        else:
            item = read_item(audit_content(r), audit_ref(r))
        out.reads.append(r)
        out.items.append(item)
    out.items = ordered(out.items, tz)
    return out
