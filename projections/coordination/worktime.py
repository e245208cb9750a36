"""Working time: limits in working hours and working days, counted in the district's zone
over its working periods, skipping weekends and public holidays and counting make-up
working days (调休上班), as the State Council's yearly notice sets them.

Every limit is an amount of working time. A working day is the length of one day's
working periods, so "N working days from t" is the instant at which N days' worth of
working time has passed since t: the same time of day N working days later when t is
inside working hours, the end of the Nth working day when t is before them (a report on
Saturday night starts its clock on Monday morning). One measure for hours and days keeps
"the share of a limit elapsed" (yellow at 80 %) and the ladder after it (red + 5 working
days) the same arithmetic.

All arithmetic is on UTC instants (aware datetimes in one zone subtract as wall clocks);
the zone only says where each day's working periods lie.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

ZERO = timedelta(0)
# A limit never needs more than this many calendar days (a safety bound, not a rule: ten
# years of walking days means a calendar with no working time in it).
MAX_DAYS = 3660


class CalendarError(ValueError):
    """A calendar that cannot count working time (no working periods, overlaps)."""


@dataclass(frozen=True)
class WorkCalendar:
    zone: ZoneInfo
    periods: tuple[tuple[time, time], ...]  # a working day's periods, sorted, disjoint
    holidays: frozenset[date] = frozenset()  # days off that would otherwise be worked
    workdays: frozenset[date] = frozenset()  # make-up working days (weekend days worked)
    # each day's working periods as UTC instants, as asked (the same few days for every
    # thread of a batch)
    _days: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not self.periods:
            raise CalendarError("a working day needs at least one working period")
        prev: time | None = None
        for start, end in self.periods:
            if not start < end:
                raise CalendarError(f"working period {start}–{end} ends before it starts")
            if prev is not None and start < prev:
                raise CalendarError(f"working period {start}–{end} overlaps the one before")
            prev = end
        both = self.holidays & self.workdays
        if both:
            raise CalendarError(
                "a day cannot be both a holiday and a make-up working day: "
                + ", ".join(d.isoformat() for d in sorted(both))
            )

    # -- days ------------------------------------------------------------------------
    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    @cached_property
    def day_length(self) -> timedelta:
        """The working time in one working day."""
        ref = date(2000, 1, 3)
        return sum(
            (datetime.combine(ref, e) - datetime.combine(ref, s) for s, e in self.periods), ZERO
        )

    def _windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working periods of ``day`` as UTC instants (none on a day off). Cached: the
        projector asks for the same few days for every thread of a batch."""
        w = self._days.get(day)
        if w is None:
            if len(self._days) > 20_000:
                self._days.clear()
            w = self._days[day] = _day_windows(self, day)
        return w

    def _local_day(self, at: datetime) -> date:
        return _aware(at).astimezone(self.zone).date()

    # -- instants --------------------------------------------------------------------
    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The first instant at which ``amount`` of working time has passed since
        ``start`` (``start`` itself for nothing). A limit ending with a period ends at the
        period's end, not at the next period's start."""
        if amount < ZERO:
            raise ValueError(f"working time to add must not be negative, got {amount}")
        t = _aware(start).astimezone(UTC)
        if amount == ZERO:
            return t
        left = amount
        day = self._local_day(t)
        for _ in range(MAX_DAYS):
            for s, e in self._windows(day):
                if e <= t:
                    continue
                begin = max(s, t)
                room = e - begin
                if left <= room:
                    return begin + left
                left -= room
            day += timedelta(days=1)
        if left == amount:  # ten years without one working hour: a calendar that stops
            raise CalendarError(f"no {amount} of working time within {MAX_DAYS} days of {start}")
        # Beyond the calendar's horizon (a deadline extended decades ahead): the rest at
        # the average working week. No notice that far ahead falls due while anyone waits,
        # and the answer is still a function of its inputs alone.
        per_day = self.day_length * 5 / 7
        start_of_day = datetime.combine(day, datetime.min.time(), self.zone).astimezone(UTC)
        return start_of_day + timedelta(days=left / per_day)

    def add_hours(self, start: datetime, hours: float) -> datetime:
        return self.add(start, timedelta(hours=hours))

    def add_days(self, start: datetime, days: float) -> datetime:
        return self.add(start, self.day_length * days)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The working time in [start, end) (nothing when end is not after start)."""
        a, b = _aware(start).astimezone(UTC), _aware(end).astimezone(UTC)
        if b <= a:
            return ZERO
        total = ZERO
        day, last = self._local_day(a), self._local_day(b)
        while day <= last:
            for s, e in self._windows(day):
                lo, hi = max(s, a), min(e, b)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def elapsed(self, start: datetime, due: datetime, at: datetime) -> float:
        """The share of the limit [start, due] elapsed at ``at``, in working time: 0 before
        it starts, 1 at the due instant, more after it. A limit with no working time in it
        is all elapsed once ``at`` reaches ``due``."""
        limit = self.between(start, due)
        if limit == ZERO:
            return 1.0 if _aware(at) >= _aware(due) else 0.0
        return self.between(start, at) / limit


def _day_windows(cal: WorkCalendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    if not cal.is_working_day(day):
        return ()
    return tuple(
        (
            datetime.combine(day, s, cal.zone).astimezone(UTC),
            datetime.combine(day, e, cal.zone).astimezone(UTC),
        )
        for s, e in cal.periods
    )


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"an instant needs its offset, got {t.isoformat()}")
    return t
