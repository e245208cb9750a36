"""One case's KPI counts (``projections.reads.kpi.judge``), from its archived events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from projections.coordination.rules import load_rules
from projections.reads.kpi import judge

SH = ZoneInfo("Asia/Shanghai")
RULES = load_rules()
T0 = datetime(2026, 3, 3, 9, 0, tzinfo=SH)  # a Tuesday


def row(n: int, etype: str, at: datetime, **data: Any) -> dict[str, Any]:
    return {"type": etype, "data": {"case_id": "C-K1", **data}, "event_id": f"k-{n}", "time": at}


def _case(handled: datetime) -> list[dict[str, Any]]:
    due = "2026-03-10T00:00:00+08:00"
    return [
        row(0, "city.case.reported", T0, category="garbage", address={"grid": "110105001"}),
        row(1, "city.case.registered", T0 + timedelta(minutes=20), due_at=due),
        row(2, "city.case.dispatched", T0 + timedelta(minutes=40), department="环卫所", due_at=due),
        row(3, "city.case.handled", handled, result="ok"),
        row(4, "city.case.verified", handled + timedelta(hours=1), passed=True),
        row(5, "city.case.closed", handled + timedelta(hours=2), outcome="ok"),
    ]


def test_a_case_raised_a_level_before_it_was_solved_is_not_solved_at_the_lowest_level() -> None:
    """Garbage (a grid-level category) handled on time counts as solved at the lowest level;
    handled five weeks late, after the ladder raised it grid → community (handle red +10
    working days), it is solved, but not at the lowest level (an outside probe's C-M19)."""
    on_time, _ = judge("C-K1", _case(T0 + timedelta(hours=4)), RULES)
    assert (on_time.solved, on_time.solved_lowest_level) == (1, 1)
    late, _ = judge("C-K1", _case(datetime(2026, 4, 7, 10, 0, tzinfo=SH)), RULES)
    assert (late.solved, late.solved_lowest_level) == (1, 0)
