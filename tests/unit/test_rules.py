"""The coordination rules file: the shipped default loads, and a broken file is refused
with the key and the reason."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from projections.coordination.rules import DEFAULT_RULES, RulesError, load_rules, parse_rules

DOC = tomllib.loads(DEFAULT_RULES.read_text(encoding="utf-8"))


def test_the_default_rules_load() -> None:
    rules = load_rules()
    assert rules.cite == {"id": "civic-hub/default", "version": 1}
    assert rules.stages == ("register", "dispatch", "handle", "verify", "close")
    garbage = rules.limits("garbage")
    assert str(garbage["handle"]) == "4h" and str(garbage["close"]) == "1d"
    assert str(rules.limits("illegal-construction")["handle"]) == "20d"
    assert rules.limits("no-such-category") == rules.default_limits
    assert rules.diversions["dispute"].category == "neighbour-dispute"
    assert (rules.yellow_at, rules.red_at) == (0.8, 1.0)
    assert (str(rules.supervised_after), str(rules.raised_after)) == ("5d", "10d")
    assert (rules.bounced_at, rules.bounce_raised_at) == (2, 3)
    assert rules.level_above("grid") == "community"
    assert rules.level_above("district") == "district"


def test_every_category_of_the_simulated_city_has_rules() -> None:
    from hub.sim.matters import CITY_CATEGORIES

    assert set(CITY_CATEGORIES) <= set(load_rules().categories)


def _broken(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOC)
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("version"), "version: is required"),
        (lambda d: d.update(version="1"), "version: must be int"),
        (lambda d: d.update(id="has space"), "id: must be"),
        (lambda d: d.update(timezone="Mars/Olympus"), "timezone: is not a known"),
        (lambda d: d.update(working_periods=[["9am", "12:00"]]), r"working_periods\[0\]\[0\]"),
        (lambda d: d.update(working_periods=[["12:00", "09:00"]]), "ends before"),
        (lambda d: d["limits"].update(handle="3 days"), "limits.handle: must be working"),
        (lambda d: d["limits"].pop("close"), "limits.close: is required"),
        (lambda d: d["limits"].update(lunch="1h"), "limits.lunch: is not a stage"),
        (lambda d: d["categories"]["garbage"].update(level="city"), "garbage.level"),
        (lambda d: d["categories"]["garbage"].pop("agency"), "categories.garbage.agency"),
        (
            lambda d: d["categories"]["garbage"]["limits"].update(handel="4h"),
            "garbage.limits.handel: is not a stage",
        ),
        (lambda d: d["diversions"]["dispute"].update(category="x"), "dispute.category"),
        (lambda d: d["supervision"].update(yellow_at=1.2), "yellow_at: must be below"),
        (lambda d: d["supervision"].update(raised_after="2d"), "raised_after: must come after"),
        (lambda d: d["bounce"].update(raised_at=2), "bounce: need"),
        (lambda d: d["calendar"]["workdays"].append("2026-03-03"), "is a weekday already"),
        (lambda d: d["calendar"]["holidays"].append("2026-13-01"), r"holidays\[\d+\]"),
        (lambda d: d["calendar"]["workdays"].append("2026-10-03"), "both a holiday"),
        (lambda d: d["ladder"].update(command_center="city hall"), "ladder.command_center"),
    ],
)
def test_a_broken_rules_file_names_the_key(change: Any, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        parse_rules(_broken(change), "test.toml")


def test_a_missing_or_unreadable_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("id = ")
    with pytest.raises(RulesError, match="not valid TOML"):
        load_rules(bad)
