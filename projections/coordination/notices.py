"""The notices a thread's clock raises (:mod:`projections.coordination.clock`), each with the
instant it falls due and an id that is the same whoever raises it (CONTRACT.md section 7)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.coordination.clock import Mark, ThreadClock, thread_clock, yellow_red
from projections.coordination.rules import Rules


@dataclass(frozen=True)
class Notice:
    id: str
    type: str
    case_id: str
    due: datetime  # when it falls due: raised at or after this instant, never before
    data: dict[str, Any]
    # which notice of its thread: kind, stage, round, level and rules, not the thread's id
    # (which changes when an older record joins the thread): raised once per slot
    slot: str = ""


def notice_id(case_id: str, *parts: Any) -> str:
    """The same notice has the same id, whoever raises it and however often."""
    key = "\x1f".join(str(p) for p in (case_id, *parts))
    return "N-" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def notice_slot(*parts: Any) -> str:
    """Which notice of a thread ``parts`` name, whatever the thread's id."""
    return "|".join(str(p) for p in parts)


def notices(
    case_id: str, tc: ThreadClock, rules: Rules, before: datetime | None = None
) -> list[Notice]:
    """Every notice the thread's clock raises under ``rules``, with the instant each falls
    due, in that order. The sweeper raises those due by now that were not raised before.
    ``before``: the supervision and raising that follow red are left out when red is not
    before it (they fall due later still; their working days are the costly part)."""
    rule = rules.cite
    cal = rules.calendar
    out: list[Notice] = []

    def add(etype: str, due: datetime, key: tuple[Any, ...], **data: Any) -> None:
        parts = (etype, *key, rules.id, rules.version)
        out.append(
            Notice(
                notice_id(case_id, *parts),
                etype,
                case_id,
                due,
                {"case_id": case_id, **data, "rule": rule},
                notice_slot(*parts),
            )
        )

    if tc.diverted:
        div = tc.diverted["rule"]
        extra = {"incident_id": tc.diverted["incident_id"]} if tc.diverted["incident_id"] else {}
        add("hub.referral.routed", tc.diverted["at"], (), to_agency=div.to_agency, **extra)
    for n, m in enumerate(tc.return_marks, start=1):
        if n == rules.bounced_at:
            add("hub.case.bounced", m.at, (n,), returns=n)
        if n == rules.bounce_raised_at and tc.bounce_from != rules.command_center:
            add(
                "hub.case.raised",
                m.at,
                ("bounce", n),
                from_level=tc.bounce_from or tc.level or rules.levels[0],
                to_level=rules.command_center,
            )
    w = tc.window
    if w is not None:
        yellow, red = yellow_red(w, rules)
        due_at = w.due.isoformat()
        who = w.holder or tc.agency or rules.command_center_agency
        key = (w.stage, w.round or tc.epoch)
        add(
            "hub.case.warned",
            yellow,
            (*key, "yellow"),
            stage=w.stage,
            level="yellow",
            due_at=due_at,
        )
        add("hub.case.warned", red, (*key, "red"), stage=w.stage, level="red", due_at=due_at)
        add("hub.case.urged", red, key, to_agency=who, stage=w.stage, due_at=due_at)
        if before is not None and red >= before:
            return sorted(out, key=lambda n: (n.due, n.type, n.id))
        add(
            "hub.case.supervised",
            cal.add(red, rules.supervised_after.span(cal)),
            key,
            to_agency=rules.command_center_agency,
            stage=w.stage,
            due_at=due_at,
        )
        # a level up from where the ladder has it now (earlier stages raised late, a
        # bounce); none from the top
        lvl = tc.raised_to or tc.level or rules.levels[0]
        if rules.level_above(lvl) != lvl:
            add(
                "hub.case.raised",
                cal.add(red, rules.raised_after.span(cal)),
                (*key, "overdue"),
                from_level=lvl,
                to_level=rules.level_above(lvl),
            )
    return sorted(out, key=lambda n: (n.due, n.type, n.id))


def raised_by(case_id: str, marks: list[Mark], rules: Rules) -> list[Notice]:
    """Every notice the thread's history raises, each as its clock was known when it fell
    due (as the simulator's truth counts them, :mod:`hub.sim.notices`): the clock after each
    mark raises the notices that fall due before the next mark, the clock of all the marks
    all of its own. So what is raised does not depend on when the hub looks: a warning that
    fell due before its stage was done is raised even when the hub learns of both at once
    (after a restart, or behind its intake). One per slot, the first clock's; earliest due
    first. ``marks`` in order (:func:`marks_of`)."""
    out: dict[str, Notice] = {}
    for k in range(len(marks) - 1):
        for n in _before_next(case_id, tuple(marks[: k + 1]), marks[k + 1].at, rules):
            out.setdefault(n.slot, n)
    for n in notices(case_id, thread_clock(marks, rules), rules):
        out.setdefault(n.slot, n)
    return sorted(out.values(), key=lambda n: (n.due, n.type, n.id))


# The notices of a clock before the next mark, by (rules, thread, marks, next mark's time):
# a thread's earlier marks come back with every batch that touches it, so each of its
# clocks but the newest is computed once (a mark's attributes are those of its event).
# The rules are kept with each entry: while it is cached their id cannot be reused.
_PAST: OrderedDict[tuple[Any, ...], tuple[Rules, list[Notice]]] = OrderedDict()
PAST_KEPT = 50_000


def _before_next(
    case_id: str, marks: tuple[Mark, ...], until: datetime, rules: Rules
) -> list[Notice]:
    key = (id(rules), case_id, until, marks)
    hit = _PAST.get(key)
    if hit is not None and hit[0] is rules:
        _PAST.move_to_end(key)
        return hit[1]
    tc = thread_clock(list(marks), rules, close_due=False)
    got: list[Notice] = []
    # without a stage in force whose ladder starts before the next mark, the clock has only
    # referral and bounce notices, which the clock of all the marks raises alike
    if tc.window is not None and min(yellow_red(tc.window, rules)) < until:
        got = [n for n in notices(case_id, tc, rules, until) if n.due < until]
    _PAST[key] = (rules, got)
    if len(_PAST) > PAST_KEPT:
        _PAST.popitem(last=False)
    return got
