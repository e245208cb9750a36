"""The chronology's pure parts (hub/chronology.py): which fields hold a date only, items
and their order, the policy's masking by agency, and the CSV and the printable page."""

from __future__ import annotations

from hub import chronology as chrono
from hub.chronology_render import style_policy, to_csv, to_html
from hub.policy import Policy
from hub.tokens import Principal
from projections.reads.chronology import Restrictions

POLICY = Policy.load()
POLICE = Principal("officer-9", "police", "investigator")
COURT = Principal("judge-4", "court", "investigator")
CIVIL = Principal("auditor-1", "civil", "auditor")


def _content(etype: str, time: str, **data: object) -> dict[str, object]:
    return {
        "chain": "agency.civil/0",
        "offset": 3,
        "source": "/agency/civil/x",
        "event_id": "e-1",
        "type": etype,
        "agency": etype.split(".")[0],
        "time": time,
        "subject": "R-1",
        "version": 1,
        "data": data,
        "summary": f"{etype} happened",
    }


def test_the_catalog_says_which_fields_hold_a_date_only() -> None:
    assert chrono.date_fields("civil.resident.moved", 1) == ("moved_on",)
    assert chrono.date_fields("civil.resident.deceased", 1) == ("died_on",)
    assert chrono.date_fields("civil.assistance.granted", 1) == ("from", "to")
    assert chrono.date_fields("city.case.reported", 1) == ()
    assert chrono.date_fields("no.such.type", 1) == ()


def test_an_event_with_a_date_only_is_ordered_at_the_start_of_that_day_in_the_district() -> None:
    moved = chrono.event_item(
        _content("civil.resident.moved", "2026-04-01T00:00:00Z", moved_on="2026-03-20"),
        "2026-04-01T00:05:00Z",
        "archive:agency.civil/0#4",
    )
    assert moved["happened_at"] == "2026-03-20" and moved["precision"] == "day"
    late_on_19th = {**moved, "happened_at": "2026-03-19T15:00:00Z", "ref": "a"}  # 23:00 +08
    early_on_20th = {**moved, "happened_at": "2026-03-19T17:00:00Z", "ref": "b"}  # 01:00 +08
    for item in (late_on_19th, early_on_20th):
        del item["precision"]
    items = chrono.ordered([early_on_20th, moved, late_on_19th], "Asia/Shanghai")
    assert [i["ref"] for i in items] == ["a", "archive:agency.civil/0#4", "b"]


def test_same_instant_orders_by_known_at_then_events_before_reads() -> None:
    base = {"happened_at": "2026-03-19T15:00:00Z", "agency": "city", "type": "t", "summary": ""}
    read = {**base, "kind": "read", "known_at": "2026-03-19T15:00:00Z", "ref": "audit#1"}
    later = {**base, "kind": "event", "known_at": "2026-03-19T16:00:00Z", "ref": "x#1"}
    sooner = {**base, "kind": "event", "known_at": "2026-03-19T15:00:00Z", "ref": "x#2"}
    unknown = {**base, "kind": "event", "known_at": None, "ref": "x#3"}
    got = chrono.ordered([unknown, read, later, sooner], "UTC")
    assert [i["ref"] for i in got] == ["x#2", "audit#1", "x#1", "x#3"]


def test_the_policy_withholds_sealed_threads_suspects_and_assistance_by_agency() -> None:
    restr = Restrictions(
        record_roles={"police:case-party:P-1/suspect/e": ["suspect"]},
        record_sealed={"court:case-party:F-1/1": True},
        case_sealed={"C-sealed": True, "C-open": False},
    )
    police = chrono.withholder(POLICY, POLICE, restr)
    court = chrono.withholder(POLICY, COURT, restr)
    civil = chrono.withholder(POLICY, CIVIL, restr)
    assert police("court.case.filed", ["case:C-sealed"]) == {"court"}
    assert police("court.case.filed", ["record:court:case-party:F-1/1"]) == {"court"}
    assert court("court.case.filed", ["case:C-sealed"]) is None
    assert police("city.case.reported", ["case:C-open"]) is None
    assert civil("police.person.involved", ["record:police:case-party:P-1/suspect/e"]) == {
        "police",
        "court",
    }
    assert police("police.person.involved", ["record:police:case-party:P-1/suspect/e"]) is None
    assert police("civil.assistance.granted", ["record:civil:resident:R-1"]) == {"civil"}
    assert civil("civil.assistance.granted", ["record:civil:resident:R-1"]) is None


def test_csv_and_the_page_hold_every_item_and_no_outside_address() -> None:
    item = chrono.event_item(
        _content("civil.resident.registered", "2026-03-02T09:00:00Z"),
        "2026-03-02T12:00:00Z",
        "archive:agency.civil/0#1",
    )
    held = chrono.withheld_item("2026-03-03T00:00:00Z", None, "court", "event", ["court"], None)
    answer = {
        "subjects": {"persons": ["P-1"], "cases": [], "places": []},
        "window": {"from": None, "to": None},
        "items": [item, held],
        "counts": {"event": 2},
        "limits": list(chrono.LIMITS),
    }
    lines = to_csv(answer).splitlines()
    assert lines[0].startswith("happened_at,precision,known_at") and len(lines) == 3
    page = to_html(answer, {"case_ref": "INQ-<1>", "user": "officer-9"})
    assert "INQ-&lt;1&gt;" in page and "never sent" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "style-src 'sha256-" in style_policy()


def test_the_replay_command_takes_further_subcommands() -> None:
    """Another module adds `replay person` with its handler; the command runs it."""
    import argparse
    import asyncio

    from hub import replay_cli

    async def person(settings: object, args: argparse.Namespace) -> int:
        return 7 if args.id == "P-1" else 1

    def add(rsub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        p = rsub.add_parser("person")
        replay_cli.client_arguments(p)
        p.add_argument("id")
        p.set_defaults(handler=person)

    parser = argparse.ArgumentParser()
    replay_cli.add_parser(parser.add_subparsers(dest="command"), add)
    args = parser.parse_args(["replay", "person", "P-1"])
    assert asyncio.run(replay_cli.run(None, args)) == 7  # type: ignore[arg-type]
    verify = parser.parse_args(["replay", "verify", "bundle.json"])
    assert verify.handler is replay_cli.verify


def test_an_impossible_date_falls_back_to_the_agencys_time() -> None:
    item = chrono.event_item(
        _content("civil.resident.deceased", "2026-04-01T00:00:00Z", died_on="2026-02-30"),
        None,
        None,
    )
    assert item["happened_at"] == "2026-04-01T00:00:00Z" and "precision" not in item
    assert chrono.ordered([item], "Asia/Shanghai") == [item]


def test_csv_cells_that_start_like_a_formula_are_plain_text() -> None:
    from hub.chronology_render import to_csv

    item = {"happened_at": "2026-03-02T09:00:00Z", "summary": '=HYPERLINK("http://x","y")'}
    text = to_csv({"items": [item, {"summary": "@SUM(A1)"}, {"summary": "+1"}, {"summary": "ok"}]})
    assert "'=HYPERLINK" in text and "'@SUM" in text and "'+1" in text
    assert "'ok" not in text and "ok" in text  # plain text is left as it is
