"""The one rule for ``overdue`` (projections.reads.sla.overdue) and the grid map's colour
(hub.api.map.grid_level): red on the hub's clock is overdue, whatever the agency's due_at
says; the agency's due_at decides only without a clock; a grid is red if any open case is."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.api.map import grid_level
from projections.reads.sla import overdue

AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
PAST, AHEAD = "2026-10-01T08:00:00+08:00", "2027-01-01T08:00:00+08:00"


def clock(level: str, stage: str = "handle") -> dict:
    return {"stage": stage, "due_at": AT, "level": level}


def test_the_clock_decides_when_there_is_one() -> None:
    assert overdue("open", None, clock("red"), AT)  # never registered: no agency due time
    assert overdue("open", AHEAD, clock("red"), AT)
    assert not overdue("open", PAST, clock("green"), AT)  # e.g. extended, or in mediation
    assert not overdue("open", PAST, clock("yellow"), AT)
    assert not overdue("open", PAST, clock("red", "closed"), AT)  # the clock has stopped
    assert not overdue("closed", PAST, clock("red"), AT)


def test_the_agency_due_time_decides_without_a_clock() -> None:
    assert overdue("open", PAST, None, AT)
    assert not overdue("open", AHEAD, None, AT)
    assert not overdue("open", None, None, AT)
    assert not overdue("closed", PAST, None, AT)


def test_a_grid_is_coloured_by_its_worst_open_case() -> None:
    assert grid_level({"sla": {"green": 5, "yellow": 3, "red": 1}}) == "red"
    assert grid_level({"sla": {"green": 5, "yellow": 3, "red": 0}}) == "yellow"
    assert grid_level({"sla": {"green": 5, "yellow": 0, "red": 0}}) == "green"
    assert grid_level({"sla": {"green": 0, "yellow": 0, "red": 0}}) is None
    assert grid_level({"grid": "110105001001"}) is None  # a grid with no cases (from a file)
