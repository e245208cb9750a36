"""A thread's clock, from its marks (:mod:`projections.coordination.handlers`) and the
rules: which stage it is in, when that stage falls due, green, yellow or red at an instant,
how often it was returned and reworked, and the notices its ladder raises and when.

The clock starts at the first report of the thread (the citizen's call or the grid
member's report). Stage ``k`` falls due at the report plus the limits of every stage up
to ``k``, in working time, so a slow registration leaves less time to handle. It moves
only when the matter says so:

- an approved extension (``city.case.extended``) sets the due instant of the stage in
  force, and the stages after it follow from there;
- a reopening (a failed verification, or a dissatisfied follow-up on a closed case) is
  rework: the case is handled again, with a fresh handling limit from the reopening. A
  follow-up before the case was closed changes nothing (it is in the timeline only);
- a return sends the case back to be dispatched again; the clock keeps running.

A case is closed when it was closed after a passed verification (verification before
closing): a close without one leaves the first stage not done (``verify``, usually) in
force, so it goes yellow and red like any other, and the case is not closed on time.

A thread without a city case runs its diverted category's clock when its 110 incident's
category is diverted (rules ``[diversions]``), no clock otherwise. While a court's mediation
is open (assigned, not concluded) its due instant is in force: stage ``mediate``, held by the
court; once it concludes, the thread's own clock is again (a settlement does not close the
city's case). Pure: the instant asked about is passed in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from projections.coordination.rules import Rules
from schemas.envelope import parse_time


@dataclass(frozen=True, order=True)
class Mark:
    at: datetime
    event_id: str
    kind: str
    attrs: dict[str, Any] = field(compare=False, default_factory=dict)


@dataclass(frozen=True)
class Window:
    """One stage's limit: it opens at ``start`` and falls due at ``due``."""

    stage: str
    start: datetime
    due: datetime
    holder: str | None = None  # who holds the stage when not the thread's owner (the court)
    round: str | None = None  # the round of its notices when not the thread's epoch
    since: datetime | None = None  # when it came into force, as its marks say


@dataclass
class ThreadClock:
    category: str | None = None
    agency: str | None = None  # who holds the matter (the owner of its category)
    level: str | None = None  # the level that should solve it
    raised_to: str | None = None  # the level it is at now, after the ladder raised it
    bounce_from: str | None = None  # the level it was at when the bounce rule raised it
    started_at: datetime | None = None
    window: Window | None = None  # the stage in force; None: no clock or closed
    closed_at: datetime | None = None  # closed after a passed verification
    close_recorded_at: datetime | None = None  # closed by the city, verified or not
    close_due: datetime | None = None
    returns: int = 0
    rework: int = 0
    extensions: int = 0
    diverted: dict[str, Any] | None = None  # the diversion rule and incident, if any
    return_marks: list[Mark] = field(default_factory=list)
    # a matter the hub knows was opened: reported (city or 110), registered, handed to
    # mediation, or opened as a police or court case (an ``opened`` mark, added by the
    # reads from those records' facts); without one, a return, an extension or a follow-up
    # of an unknown case makes a thread that waits for its report, not a matter
    opened: bool = False

    @property
    def epoch(self) -> str:
        """Which round of the clock: a reopening or an extension starts a new one, so its
        notices are new notices."""
        return f"{self.rework}.{self.extensions}"


def marks_of(members: Iterable[dict[str, Any]]) -> list[Mark]:
    """Marks from the thread's ``clock`` members (as read by the fact reads), in order."""
    out = []
    for m in members:
        attrs = dict(m.get("attrs") or {})
        kind = attrs.pop("kind", None)
        if kind:
            out.append(Mark(m["time"], m["event_id"], kind, attrs))
    return sorted(out)


def _offset(rules: Rules, limits: dict[str, Any], a: int, b: int) -> timedelta:
    cal = rules.calendar
    return sum((limits[s].span(cal) for s in rules.stages[a:b]), timedelta(0))


def thread_clock(marks: list[Mark], rules: Rules, close_due: bool = True) -> ThreadClock:
    """The clock the marks make under ``rules`` (independent of when it is asked);
    ``close_due=False``: without the instant the case is due to close (for its notices)."""
    tc = ThreadClock()
    tc.opened = any(
        m.kind in ("report", "mediate", "opened")
        or (m.kind == "done" and m.attrs.get("stage") == "register")
        for m in marks
    )
    reports = [m for m in marks if m.kind == "report"]
    city = [m for m in reports if m.attrs.get("agency") == "city"]
    for m in reports:
        div = rules.diversions.get(m.attrs.get("category") or "")
        if m.attrs.get("agency") == "police" and div is not None:
            tc.diverted = {"rule": div, "incident_id": m.attrs.get("incident_id"), "at": m.at}
            break
    if city:
        tc.category = city[0].attrs.get("category")
    elif tc.diverted:
        tc.category = tc.diverted["rule"].category
    cat = rules.category(tc.category)
    tc.agency = cat.agency if cat else ("city" if city else None)
    tc.level = cat.level if cat else rules.levels[0]
    stages = rules.stages
    limits = rules.limits(tc.category)
    cal = rules.calendar
    tc.return_marks = [m for m in marks if m.kind == "return"]
    tc.returns = len(tc.return_marks)
    mediation = _mediation(marks)
    if not city and not tc.diverted:
        tc.return_marks = []  # returns of a case never reported: nothing to bounce yet
        if mediation is not None:
            tc.agency = "court"
            tc.started_at = mediation.start
            tc.window = mediation
        return tc
    tc.started_at = reports[0].at
    anchor, anchor_i = tc.started_at, 0
    done: set[str] = set()
    extended: Window | None = None
    last = stages[-1]

    def closed() -> bool:
        return last in done and ("verify" not in stages or "verify" in done)

    def window(i: int) -> Window:
        if extended is not None and extended.stage == stages[i]:
            return extended
        lo = max(anchor_i, 0)
        if i < lo:  # a stage before the anchor left undone: its own limit from the anchor
            return Window(stages[i], anchor, cal.add(anchor, limits[stages[i]].span(cal)))
        start = cal.add(anchor, _offset(rules, limits, lo, i))
        return Window(stages[i], start, cal.add(start, limits[stages[i]].span(cal)))

    def undone() -> int | None:
        return next((i for i, s in enumerate(stages) if s not in done), None)

    def slot() -> tuple[str, str] | None:
        """The window in force (its notices' stage and round), None when closed."""
        if med is not None:
            return ("mediate", "0.0")
        return (stages[current], tc.epoch) if current is not None and not closed() else None

    # the stage in force, since when, the open mediation, and the levels the ladder raised
    # the matter to: once per window (slot) that ended after its raising instant, as the
    # notices of the clock before each mark raise it (:func:`notices.raised_by`)
    current, since, tc.raised_to, returned = 0, tc.started_at, tc.level, 0
    med: Mark | None = None
    counted: set[tuple[str, str]] = set()
    raise_after = rules.raised_after.span(cal)  # working time: at least as long in wall time
    for m in marks:
        before, ending = slot(), None
        start = med.at if med is not None else since
        if before is not None and before not in counted and m.at > start + raise_after:
            ending = (
                _mediation_window(med)
                if med is not None
                else dataclasses.replace(window(current), since=since)
            )
        bounced = False
        if m.kind == "done":
            stage = m.attrs["stage"]
            # a stage done says those before it were (a dispatch says the case was
            # registered), all but the verification, which only its own event passes
            i = stages.index(stage) if stage in stages else 0
            done.update(x for x in stages[:i] if x != "verify")
            done.add(stage)
            if stage == last:
                tc.close_recorded_at = tc.close_recorded_at or m.at
        elif m.kind == "return":
            done -= {"dispatch", "handle"}
            returned += 1
            bounced = returned == rules.bounce_raised_at  # sent back once too often
        elif m.kind == "reopen":
            if m.attrs.get("why") == "feedback" and last not in done:
                continue  # a follow-up before the case was closed reopens nothing
            tc.rework += 1
            done -= set(stages[stages.index("handle") :]) if "handle" in stages else set()
            tc.closed_at = tc.close_recorded_at = None
            anchor, anchor_i, extended = (
                m.at,
                stages.index("handle") if "handle" in stages else 0,
                None,
            )
        elif m.kind == "extend":
            if current is None:
                continue
            tc.extensions += 1
            due = parse_time(m.attrs["due_at"])
            extended = Window(stages[current], m.at, due)
            anchor, anchor_i = due, current + 1
        elif m.kind in ("mediate", "mediated"):
            med = m if m.kind == "mediate" else None
        now = undone()
        if now != current or m.kind in ("return", "reopen", "extend", "mediate", "mediated"):
            current, since = now, max(since, m.at)  # a stage (again) in force from here
        if ending is not None and before != slot() and raised_at(ending, rules) < m.at:
            counted.add(before)  # the window ended after its raising: a level up
            tc.raised_to = rules.level_above(tc.raised_to or rules.levels[0])
        if bounced:  # then to the top (the command center)
            tc.bounce_from, tc.raised_to = tc.raised_to, rules.command_center
        if tc.closed_at is None and closed():
            tc.closed_at = m.at

    if close_due:
        tc.close_due = window(len(stages) - 1).due
    if closed():
        tc.window = None
    elif current is not None:
        tc.window = dataclasses.replace(window(current), since=since)
    if mediation is not None:
        tc.window = mediation  # the court holds the matter while it mediates
    return tc


def _mediation(marks: list[Mark]) -> Window | None:
    """The open mediation (assigned, not concluded since), as the window in force."""
    open_: Mark | None = None
    for m in marks:
        if m.kind == "mediate":
            open_ = m
        elif m.kind == "mediated":
            open_ = None
    return None if open_ is None else _mediation_window(open_)


def _mediation_window(m: Mark) -> Window:
    """The window of a mediation assigned by ``m``, held by the court; its own round: the
    city's reopenings and extensions do not make its notices new."""
    return Window("mediate", m.at, parse_time(m.attrs["due_at"]), "court", "0.0")


def level(tc: ThreadClock, rules: Rules, at: datetime) -> str:
    w = tc.window
    if w is None:
        return "red" if tc.closed_at and tc.close_due and tc.closed_at > tc.close_due else "green"
    share = rules.calendar.elapsed(w.start, w.due, at)
    if (at >= w.due) if rules.red_at == 1 else (share >= rules.red_at):
        return "red"  # as the red notice: at the due instant itself
    return "yellow" if share >= rules.yellow_at else "green"


def sla(tc: ThreadClock, rules: Rules, at: datetime) -> dict[str, Any] | None:
    """``{stage, due_at, level, agency}`` for a read (CONTRACT.md section 7), None without
    a clock: the stage in force, when it falls due, and ``agency``, who holds it (the court
    while it mediates, the owner of the category otherwise). A closed case shows when it was
    due to close, red when it closed late."""
    w = tc.window
    if w is not None:
        return {
            "stage": w.stage,
            "due_at": w.due.astimezone(UTC),  # one form, whoever wrote it (a mediation's)
            "level": level(tc, rules, at),
            "agency": w.holder or tc.agency,
        }
    if tc.closed_at is not None:
        return {
            "stage": "closed",
            "due_at": tc.close_due.astimezone(UTC) if tc.close_due else None,
            "level": level(tc, rules, at),
            "agency": tc.agency,
        }
    return None


def yellow_red(w: Window, rules: Rules) -> tuple[datetime, datetime]:
    """When the stage in force goes yellow and red (its first notices; the rest follow red),
    never before it came into force (``since``): a stage whose time ran out before the one
    ahead of it was done goes red as it comes into force."""
    if w.due <= w.start:  # overdue from the start (a mediation due before it was assigned)
        yellow, red = w.due, w.due
    else:
        cal = rules.calendar
        span = cal.between(w.start, w.due)
        # red at 100 % is the due instant itself, even outside working time (a mediation's
        # or an extension's due_at): never before the deadline
        red = w.due if rules.red_at == 1 else cal.add(w.start, span * rules.red_at)
        yellow = cal.add(w.start, span * rules.yellow_at)
    if w.since is not None:
        yellow, red = max(yellow, w.since), max(red, w.since)
    return yellow, red


def raised_at(w: Window, rules: Rules) -> datetime:
    """When the stage in force is raised a level (red + ``raised_after``)."""
    return rules.calendar.add(yellow_red(w, rules)[1], rules.raised_after.span(rules.calendar))
