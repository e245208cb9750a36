"""Referral decisions (分流): a 110 call referred to the city and a city case at the same
standard address soon after are one matter; and decisions survive the log unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from projections.decide import Decision, decide_referral, parse_decision

T = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_a_shared_party_makes_it_one_matter() -> None:
    d = decide_referral("C-1", "I-1", "PL-1", 60, "nid:1", T)
    assert d is not None and d.action == "link" and d.graph == "case"
    assert d.evidence["shared_person"] == "nid:1"


def test_the_same_address_within_a_day_joins() -> None:
    d = decide_referral("C-1", "I-1", "PL-1", 1.5, None, T)
    assert d is not None and d.action == "link"


def test_the_same_address_later_in_the_window_asks_a_person() -> None:
    d = decide_referral("C-1", "I-1", "PL-1", 50, None, T)
    assert d is not None and d.action == "candidate" and 0 < d.score < 0.75


def test_outside_the_window_nothing_is_decided() -> None:
    assert decide_referral("C-1", "I-1", "PL-1", 80, "nid:1", T) is None
    assert decide_referral("C-1", "I-1", "PL-1", -1, None, T) is None


def test_a_decision_reads_back_from_its_event_as_it_was() -> None:
    d = Decision("unlink", "a", "b", 0.25, {"why": "x"}, "resolver/fs-1", T, seq=2)
    back = parse_decision(orjson.dumps(d.event()))
    assert back == d and back.id == d.id
    again = Decision("unlink", "a", "b", 0.25, {"why": "x"}, "resolver/fs-1", T, seq=3)
    assert again.id != d.id  # the same pair decided once more is another decision
