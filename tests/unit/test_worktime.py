"""Working time in the district's zone: hours and days over working periods, weekends,
the 2026 public holidays and their make-up working days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.coordination.rules import load_rules
from projections.coordination.worktime import CalendarError, WorkCalendar

SH = ZoneInfo("Asia/Shanghai")
CAL = load_rules().calendar  # 9:00-12:00, 13:30-17:30, 2026 holidays


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def test_a_working_day_is_seven_hours() -> None:
    assert CAL.day_length == timedelta(hours=7)


def test_hours_inside_one_period() -> None:
    """Given a report on Tuesday 9:30, when 2 working hours pass, then it is 11:30."""
    assert CAL.add_hours(sh(2026, 3, 3, 9, 30), 2) == sh(2026, 3, 3, 11, 30)


def test_hours_skip_the_lunch_break() -> None:
    assert CAL.add_hours(sh(2026, 3, 3, 11, 0), 2) == sh(2026, 3, 3, 14, 30)


def test_a_limit_ending_with_a_period_ends_there() -> None:
    """17:30, not the next morning's 9:00: the first instant the limit is used up."""
    assert CAL.add_hours(sh(2026, 3, 3, 16, 30), 1) == sh(2026, 3, 3, 17, 30)


def test_hours_run_over_the_weekend() -> None:
    """Friday 16:30 + 4 working hours: one on Friday, three on Monday morning."""
    assert CAL.add_hours(sh(2026, 3, 6, 16, 30), 4) == sh(2026, 3, 9, 12, 0)


def test_a_report_at_night_starts_the_next_morning() -> None:
    assert CAL.add_hours(sh(2026, 3, 7, 22, 0), 1) == sh(2026, 3, 9, 10, 0)


def test_days_keep_the_time_of_day() -> None:
    assert CAL.add_days(sh(2026, 3, 3, 10, 0), 3) == sh(2026, 3, 6, 10, 0)


def test_days_from_before_opening_end_with_the_day() -> None:
    assert CAL.add_days(sh(2026, 3, 3, 7, 0), 1) == sh(2026, 3, 3, 17, 30)


def test_national_day_week_is_skipped_and_the_make_up_days_count() -> None:
    """30 Sep 2026 (Wed) 10:00 + 3 working days: 1-7 Oct are holidays, Sat 10 Oct is worked:
    Thu 8, Fri 9, Sat 10 October."""
    assert CAL.add_days(sh(2026, 9, 30, 10, 0), 3) == sh(2026, 10, 10, 10, 0)


def test_spring_festival_2026() -> None:
    """Sat 14 Feb is a make-up working day; 15-23 Feb are off."""
    assert CAL.is_working_day(date(2026, 2, 14))
    assert not any(CAL.is_working_day(date(2026, 2, d)) for d in range(15, 24))
    assert CAL.add_days(sh(2026, 2, 13, 10, 0), 2) == sh(2026, 2, 24, 10, 0)


def test_new_year_2026_make_up_sunday() -> None:
    assert not CAL.is_working_day(date(2026, 1, 2))
    assert CAL.is_working_day(date(2026, 1, 4))  # Sunday, worked


def test_the_calendar_files_make_up_days_are_all_weekend_days() -> None:
    assert CAL.workdays and all(d.weekday() >= 5 for d in CAL.workdays)
    assert all(CAL.is_working_day(d) for d in CAL.workdays)
    assert not any(CAL.is_working_day(d) for d in CAL.holidays)


def test_elapsed_share() -> None:
    start, due = sh(2026, 3, 3, 9, 0), CAL.add_hours(sh(2026, 3, 3, 9, 0), 10)
    assert CAL.elapsed(start, due, start) == 0
    assert CAL.elapsed(start, due, due) == 1
    assert CAL.elapsed(start, due, CAL.add_hours(start, 8)) == pytest.approx(0.8)
    assert CAL.elapsed(start, due, CAL.add_hours(start, 15)) == pytest.approx(1.5)
    # time off the clock does not count
    assert CAL.elapsed(start, due, sh(2026, 3, 3, 12, 45)) == pytest.approx(0.3)


def test_instants_need_an_offset() -> None:
    with pytest.raises(ValueError, match="offset"):
        CAL.add_hours(datetime(2026, 3, 3, 9), 1)


def test_negative_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        CAL.add(sh(2026, 3, 3, 9), timedelta(hours=-1))


@pytest.mark.parametrize(
    ("periods", "why"),
    [
        ((), "at least one"),
        (((time(12), time(9)),), "ends before"),
        (((time(9), time(12)), (time(11), time(13))), "overlaps"),
    ],
)
def test_a_calendar_that_cannot_count(periods: tuple, why: str) -> None:
    with pytest.raises(CalendarError, match=why):
        WorkCalendar(SH, periods)


def test_a_day_cannot_be_off_and_worked() -> None:
    d = date(2026, 10, 10)
    with pytest.raises(CalendarError, match="both"):
        WorkCalendar(SH, ((time(9), time(17)),), frozenset({d}), frozenset({d}))


def test_a_calendar_with_no_working_days_stops() -> None:
    every = frozenset(date(2026, 1, 1) + timedelta(days=i) for i in range(4000))
    cal = WorkCalendar(SH, ((time(9), time(17)),), holidays=every)
    with pytest.raises(CalendarError, match="no "):
        cal.add_hours(sh(2026, 1, 1), 1)


# -- properties ----------------------------------------------------------------------
instants = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2027, 6, 30), timezones=st.just(UTC)
)
amounts = st.integers(min_value=0, max_value=60 * 24 * 3600).map(lambda s: timedelta(seconds=s))
small = st.integers(min_value=0, max_value=20 * 7 * 3600).map(lambda s: timedelta(seconds=s))


@settings(max_examples=200, deadline=None)
@given(instants, amounts)
def test_adding_then_measuring_gives_the_amount(t: datetime, amount: timedelta) -> None:
    assert CAL.between(t, CAL.add(t, amount)) == amount


@settings(max_examples=200, deadline=None)
@given(instants, small, small)
def test_adding_in_two_steps_is_adding_once(t: datetime, a: timedelta, b: timedelta) -> None:
    if a > timedelta(0):
        assert CAL.add(CAL.add(t, a), b) == CAL.add(t, a + b)


@settings(max_examples=200, deadline=None)
@given(instants, small, small)
def test_more_time_is_never_earlier(t: datetime, a: timedelta, b: timedelta) -> None:
    lo, hi = sorted((a, b))
    assert CAL.add(t, lo) <= CAL.add(t, hi)
    assert CAL.add(t, hi) >= t


@settings(max_examples=200, deadline=None)
@given(instants, instants, instants)
def test_working_time_adds_up_over_a_split(a: datetime, b: datetime, c: datetime) -> None:
    x, y, z = sorted((a, b, c))
    assert CAL.between(x, z) == CAL.between(x, y) + CAL.between(y, z)
    assert CAL.between(x, z) <= z - x


@settings(max_examples=200, deadline=None)
@given(instants, small)
def test_a_limit_never_ends_outside_working_time(t: datetime, a: timedelta) -> None:
    """An end is in a working period (its end included) of a working day."""
    if a > timedelta(0):
        end = CAL.add(t, a).astimezone(SH)
        assert CAL.is_working_day(end.date())
        assert any(s <= end.time() <= e for s, e in CAL.periods)


@settings(max_examples=200, deadline=None)
@given(instants, st.integers(min_value=1, max_value=30))
def test_days_are_whole_days_of_working_time(t: datetime, n: int) -> None:
    assert CAL.between(t, CAL.add_days(t, n)) == CAL.day_length * n


def test_working_time_beyond_ten_years_runs_at_the_average_week() -> None:
    """A deadline extended decades ahead (an approved extension to 2099) has its ladder
    computed, never an error that sends the event to the dead letters."""
    cal = WorkCalendar(SH, ((time(9), time(17)),))
    start = sh(2026, 3, 3)
    far = cal.add(start, timedelta(days=4440))  # 13,320 working days of 8 hours
    assert far > start + timedelta(days=3660)
    assert far == cal.add(start, timedelta(days=4440))  # a function of its inputs
    assert cal.add(start, timedelta(days=4441)) > far
