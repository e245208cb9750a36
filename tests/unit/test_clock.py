"""Clocks from the citizen's report: stories of city cases through the real intake and the
pure projection, read as the thread's clock under the default rules."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.sim.story import event
from projections.coordination.clock import ThreadClock, level, marks_of, sla, thread_clock
from projections.coordination.notices import notices
from projections.coordination.rules import load_rules
from projections.ids import hub_id
from projections.memory import InMemoryReadModel
from tests.unit.test_projection import accepted

SH = ZoneInfo("Asia/Shanghai")
RULES = load_rules()
CAL = RULES.calendar
CID = "C-2026-7001"
THREAD = hub_id("C", f"city:case:{CID}")
T0 = datetime(2026, 3, 3, 9, 0, tzinfo=SH)  # a Tuesday
ADDRESS = {"text": "朝阳区望京街道1号", "grid": "11010500100101"}


def city(etype: str, n: int, at: datetime, **data: Any) -> dict[str, Any]:
    return event("city", etype, f"e-{n}", at, CID, {"case_id": CID, **data})


def reported(category: str = "garbage", at: datetime = T0) -> dict[str, Any]:
    return city(
        "city.case.reported",
        0,
        at,
        category=category,
        description="x",
        channel="hotline",
        address=ADDRESS,
    )


def _marks(events: list[dict[str, Any]], nodes: tuple[str, ...] = (THREAD,)) -> list[Any]:
    """The clock marks on ``nodes`` (one thread), as the projection keeps them from
    ``events`` applied in order."""
    m = InMemoryReadModel()
    for e in events:
        m.apply(accepted([e]))
    members = [
        {"attrs": f.attrs, "time": f.stamp[0], "event_id": f.stamp[2]}
        for k, f in m.members.items()
        if k[0] == "case" and k[1] in nodes and k[2] == "clock"
    ]
    return marks_of(members)


def clock_of(events: list[dict[str, Any]], shuffle: int | None = None) -> ThreadClock:
    if shuffle is not None:
        events = list(events)
        random.Random(shuffle).shuffle(events)
    return thread_clock(_marks(events), RULES)


def test_given_a_garbage_report_then_registration_is_due_two_working_hours_later() -> None:
    tc = clock_of([reported()])
    assert tc.started_at == T0 and tc.window is not None
    assert (tc.window.stage, tc.window.due) == ("register", T0 + timedelta(hours=2))
    assert sla(tc, RULES, T0 + timedelta(minutes=30))["level"] == "green"
    assert sla(tc, RULES, T0 + timedelta(minutes=100))["level"] == "yellow"  # 83 %
    assert sla(tc, RULES, T0 + timedelta(hours=2))["level"] == "red"


def test_the_clock_runs_from_the_report_not_from_registration() -> None:
    """Registered late (at 10:30): dispatch is still due at report + 2 h + 2 h = 14:30."""
    tc = clock_of(
        [
            reported(),
            city(
                "city.case.registered",
                1,
                T0 + timedelta(minutes=90),
                due_at="2026-03-04T00:00:00+08:00",
            ),
        ]
    )
    assert tc.window is not None and tc.window.stage == "dispatch"
    assert tc.window.due == datetime(2026, 3, 3, 14, 30, tzinfo=SH)


def _through_dispatch() -> list[dict[str, Any]]:
    due = "2026-03-10T00:00:00+08:00"
    return [
        reported(),
        city("city.case.registered", 1, T0 + timedelta(minutes=20), due_at=due),
        city(
            "city.case.dispatched", 2, T0 + timedelta(minutes=40), department="环卫所", due_at=due
        ),
    ]


def test_handling_garbage_is_due_four_working_hours_after_dispatch_is_due() -> None:
    tc = clock_of(_through_dispatch())
    assert tc.window is not None and tc.window.stage == "handle"
    assert tc.window.start == datetime(2026, 3, 3, 14, 30, tzinfo=SH)
    assert tc.window.due == datetime(2026, 3, 4, 10, 0, tzinfo=SH)  # 3 h Tue, 1 h Wed


def test_an_extension_moves_the_due_instant_and_the_stages_after_it() -> None:
    ext = datetime(2026, 3, 6, 17, 30, tzinfo=SH)
    events = [
        *_through_dispatch(),
        city(
            "city.case.extended",
            3,
            T0 + timedelta(hours=3),
            due_at=ext.isoformat(),
            reason="r",
            approved_by="指挥中心",
        ),
    ]
    tc = clock_of(events)
    assert tc.window is not None and (tc.window.stage, tc.window.due) == ("handle", ext)
    assert tc.extensions == 1
    assert tc.close_due == CAL.add_days(CAL.add_hours(ext, 4), 1)


def test_returns_are_counted_and_send_the_case_back_to_dispatch() -> None:
    events = [*_through_dispatch()]
    for i in range(3):
        events.append(
            city(
                "city.case.returned",
                10 + i,
                T0 + timedelta(hours=1 + i),
                by_department="物业",
                reason="不归我管",
            )
        )
    tc = clock_of(events)
    assert tc.returns == 3
    assert tc.window is not None and tc.window.stage == "dispatch"
    kinds = [
        (n.type, n.data.get("returns"), n.data.get("to_level")) for n in notices(THREAD, tc, RULES)
    ]
    assert ("hub.case.bounced", 2, None) in kinds
    assert ("hub.case.raised", None, "district") in kinds


def test_a_dissatisfied_follow_up_reopens_the_case_as_rework() -> None:
    closed_at = T0 + timedelta(hours=3)
    events = [
        *_through_dispatch(),
        city("city.case.handled", 3, T0 + timedelta(hours=2), result="已清运"),
        city("city.case.verified", 4, T0 + timedelta(hours=2, minutes=30), passed=True),
        city("city.case.closed", 5, closed_at, outcome="结案"),
    ]
    tc = clock_of(events)
    assert tc.window is None and tc.closed_at == closed_at
    assert sla(tc, RULES, closed_at + timedelta(days=30)) == {
        "stage": "closed",
        "due_at": tc.close_due,
        "level": "green",
        "agency": "city",
    }
    back = datetime(2026, 3, 5, 10, 0, tzinfo=SH)
    events.append(city("city.feedback.recorded", 6, back, satisfied=False, channel="phone"))
    tc = clock_of(events)
    assert tc.rework == 1 and tc.closed_at is None
    assert tc.window is not None and tc.window.stage == "handle"
    assert (tc.window.start, tc.window.due) == (back, CAL.add_hours(back, 4))


def test_a_failed_verification_is_rework_too() -> None:
    events = [
        *_through_dispatch(),
        city("city.case.handled", 3, T0 + timedelta(hours=2), result="x"),
        city("city.case.verified", 4, T0 + timedelta(hours=3), passed=False),
    ]
    assert clock_of(events).rework == 1


def test_the_clock_does_not_depend_on_arrival_order() -> None:
    events = [
        *_through_dispatch(),
        city("city.case.returned", 7, T0 + timedelta(hours=1), by_department="物业", reason="r"),
        city(
            "city.case.extended",
            8,
            T0 + timedelta(hours=2),
            due_at="2026-03-09T12:00:00+08:00",
            reason="r",
            approved_by="a",
        ),
        city("city.feedback.recorded", 9, T0 + timedelta(days=3), satisfied=False),
    ]
    want = clock_of(events)
    for seed in range(5):
        got = clock_of(events, shuffle=seed)
        assert (got.window, got.returns, got.rework, got.extensions) == (
            want.window,
            want.returns,
            want.rework,
            want.extensions,
        )


def test_the_ladder_of_a_late_case() -> None:
    """Yellow at 80 % of the stage, red and urged at 100 %, supervised 5 and raised 10
    working days after red; the same notice has the same id every time."""
    tc = clock_of(_through_dispatch())
    w = tc.window
    assert w is not None
    due = {(n.type, n.data.get("level")): n for n in notices(THREAD, tc, RULES)}
    assert due[("hub.case.warned", "yellow")].due == CAL.add(
        w.start, CAL.between(w.start, w.due) * 0.8
    )
    assert due[("hub.case.warned", "red")].due == w.due
    assert due[("hub.case.urged", None)].due == w.due
    assert due[("hub.case.urged", None)].data["to_agency"] == "city"
    assert due[("hub.case.supervised", None)].due == CAL.add_days(w.due, 5)
    raised = due[("hub.case.raised", None)]
    assert raised.due == CAL.add_days(w.due, 10)
    assert (raised.data["from_level"], raised.data["to_level"]) == ("grid", "community")
    assert all(n.data["rule"] == {"id": "civic-hub/default", "version": 1} for n in due.values())
    again = {n.id for n in notices(THREAD, clock_of(_through_dispatch(), shuffle=3), RULES)}
    assert again == {n.id for n in due.values()}
    assert level(tc, RULES, w.due - timedelta(minutes=1)) == "yellow"


def test_a_notice_keeps_its_slot_when_the_thread_is_named_by_another_node() -> None:
    """The same clock under another thread id (an older record joined the thread) gives
    other notice ids but the same slots: kind, stage, round, level and rules, no thread id;
    each notice of the ladder has a slot of its own."""
    tc = clock_of(_through_dispatch())
    here = notices(THREAD, tc, RULES)
    renamed = notices("C-older-node", tc, RULES)
    assert [n.slot for n in here] == [n.slot for n in renamed]
    assert not {n.id for n in here} & {n.id for n in renamed}
    assert len({n.slot for n in here}) == len(here)
    assert all(THREAD not in n.slot and RULES.id in n.slot for n in here)


def test_a_110_dispute_is_diverted_to_the_city_and_runs_its_clock() -> None:
    inc = event(
        "police",
        "police.incident.reported",
        "p-1",
        T0,
        "J1",
        {"incident_id": "J1", "category": "dispute", "summary": "s", "address": ADDRESS},
    )
    cid = hub_id("C", "police:incident:J1")
    tc = thread_clock(_marks([inc], (cid,)), RULES)
    assert tc.category == "neighbour-dispute" and tc.window is not None
    assert tc.window.stage == "register"
    routed = [n for n in notices(cid, tc, RULES) if n.type == "hub.referral.routed"]
    assert [(n.due, n.data["to_agency"], n.data["incident_id"]) for n in routed] == [
        (T0, "city", "J1")
    ]


def test_a_theft_stays_with_the_police_without_a_clock() -> None:
    inc = event(
        "police",
        "police.incident.reported",
        "p-2",
        T0,
        "J2",
        {"incident_id": "J2", "category": "theft", "summary": "s", "address": ADDRESS},
    )
    cid = hub_id("C", "police:incident:J2")
    tc = thread_clock(_marks([inc], (cid,)), RULES)
    assert tc.window is None and sla(tc, RULES, T0) is None and notices(cid, tc, RULES) == []


def test_every_notice_the_ladder_raises_has_its_contract_shape() -> None:
    """The data of each notice passes its schema on hub.coordination (schemas/notices.py)."""
    from schemas.notices import NOTICES, check_notice

    events = [*_through_dispatch()]
    for i in range(3):
        at = T0 + timedelta(hours=1 + i)
        events.append(city("city.case.returned", 10 + i, at, by_department="物业", reason="r"))
    inc = event(
        "police",
        "police.incident.reported",
        "p-3",
        T0,
        CID,
        {"incident_id": "J3", "category": "dispute", "summary": "s", "address": ADDRESS},
    )
    raised = notices(THREAD, clock_of(events), RULES)
    cid = hub_id("C", "police:incident:J3")
    raised += notices(cid, thread_clock(_marks([inc], (cid,)), RULES), RULES)
    assert {n.type for n in raised} == set(NOTICES)
    for n in raised:
        check_notice(n.type, n.data)
    assert len({n.id for n in raised}) == len(raised)


# -- probe 13 -----------------------------------------------------------------------------
CT = "CT-2026-7001"
COURT = hub_id("C", f"court:case:{CT}")


def court(etype: str, n: int, at: datetime, **data: Any) -> dict[str, Any]:
    return event("court", etype, f"c-{n}", at, CT, {"case_id": CT, **data})


def mediation(at: datetime, due: datetime, refs: bool = True) -> dict[str, Any]:
    more = {"refs": [{"agency": "city", "kind": "case", "id": CID}]} if refs else {}
    return court(
        "court.mediation.assigned", 1, at, mediator="调解员", due_at=due.isoformat(), **more
    )


def thread_of(events: list[dict[str, Any]], nodes: tuple[str, ...]) -> ThreadClock:
    """The clock of the marks on all of ``nodes`` (one thread), events applied in order."""
    return thread_clock(_marks(events, nodes), RULES)


def test_a_mediation_joined_to_a_city_case_carries_its_deadline_in_either_order() -> None:
    """Given a neighbour dispute dispatched by the city and a court mediation citing it, in
    either order of arrival, then the thread's clock is the mediation's: stage mediate, due
    at its due_at, yellow then red and urged to the court; once concluded, the city's clock
    is back."""
    due = T0 + timedelta(days=3)
    city_events = [reported("neighbour-dispute"), *_through_dispatch()[1:]]
    med = mediation(T0 + timedelta(hours=1), due)
    for events in ([*city_events, med], [med, *city_events]):
        tc = thread_of(events, (THREAD, COURT))
        assert tc.window is not None
        assert (tc.window.stage, tc.window.due, tc.window.holder) == ("mediate", due, "court")
        assert sla(tc, RULES, due)["level"] == "red"
        by = {(n.type, n.data.get("level")): n for n in notices(THREAD, tc, RULES)}
        assert by[("hub.case.warned", "red")].due == due
        assert by[("hub.case.urged", None)].data["to_agency"] == "court"
        assert by[("hub.case.urged", None)].data["stage"] == "mediate"
        assert by[("hub.case.warned", "yellow")].due < due
        assert {n.case_id for n in by.values()} == {THREAD}
    done = court("court.mediation.concluded", 2, T0 + timedelta(days=1), settled=True)
    tc = thread_of([*city_events, med, done], (THREAD, COURT))
    assert tc.window is not None and tc.window.stage == "handle"


def test_a_mediation_on_its_own_keeps_its_notice_ids() -> None:
    """A mediation with no city case: the same notices (ids) as before the city case could
    carry one: stage mediate, round 0.0."""
    due = T0 + timedelta(days=3)
    tc = thread_of([mediation(T0, due, refs=False)], (COURT,))
    assert tc.window is not None and tc.window.stage == "mediate"
    slots = {n.slot for n in notices(COURT, tc, RULES)}
    assert "hub.case.warned|mediate|0.0|red|civic-hub/default|1" in slots


def test_a_mediation_due_before_it_was_assigned_climbs_the_whole_ladder() -> None:
    """Due 400 days before it was handed over: red at once, supervised and raised counted
    from its due instant (all long due), not from the assignment."""
    due = T0 - timedelta(days=400)
    tc = thread_of([mediation(T0, due, refs=False)], (COURT,))
    by = {n.type: n.due for n in notices(COURT, tc, RULES)}
    assert by["hub.case.supervised"] == CAL.add_days(due, 5) < T0
    assert by["hub.case.raised"] == CAL.add_days(due, 10) < T0


def test_a_follow_up_before_closure_changes_nothing_in_the_clock() -> None:
    events = _through_dispatch()
    want = clock_of(events)
    for n in (6, 7):  # two dissatisfied follow-ups on an open case
        events.append(city("city.feedback.recorded", n, T0 + timedelta(hours=n), satisfied=False))
    tc = clock_of(events)
    assert (tc.rework, tc.window, tc.closed_at) == (0, want.window, None)
    assert [n.id for n in notices(THREAD, tc, RULES)] == [
        n.id for n in notices(THREAD, want, RULES)
    ]


def test_two_follow_ups_after_closure_reopen_once() -> None:
    events = [
        *_through_dispatch(),
        city("city.case.handled", 3, T0 + timedelta(hours=2), result="已清运"),
        city("city.case.verified", 4, T0 + timedelta(hours=2, minutes=30), passed=True),
        city("city.case.closed", 5, T0 + timedelta(hours=3), outcome="结案"),
    ]
    back = datetime(2026, 3, 5, 10, 0, tzinfo=SH)
    events += [
        city("city.feedback.recorded", 6, back, satisfied=False),
        city("city.feedback.recorded", 7, back + timedelta(hours=1), satisfied=False),
    ]
    tc = clock_of(events, shuffle=1)
    assert tc.rework == 1
    assert tc.window is not None and (tc.window.stage, tc.window.start) == ("handle", back)


def test_a_follow_up_on_an_unknown_case_has_no_clock() -> None:
    tc = clock_of([city("city.feedback.recorded", 6, T0, satisfied=False)])
    assert (tc.window, tc.rework, tc.closed_at) == (None, 0, None)
    assert sla(tc, RULES, T0) is None and notices(THREAD, tc, RULES) == []


def test_returns_on_a_case_never_reported_raise_nothing() -> None:
    events = [
        city("city.case.returned", i, T0 + timedelta(hours=i), by_department="物业", reason="r")
        for i in range(1, 4)
    ]
    tc = clock_of(events)
    assert tc.returns == 3 and notices(THREAD, tc, RULES) == []


def _handled() -> list[dict[str, Any]]:
    return [*_through_dispatch(), city("city.case.handled", 3, T0 + timedelta(hours=2), result="x")]


def test_a_close_without_verification_does_not_stop_the_clock() -> None:
    """Verification before closing: closed but never verified, the verify stage stays in
    force and goes red; the case is recorded closed but not closed (on time); a passed
    verification later closes it then."""
    closed = T0 + timedelta(hours=3)
    events = [*_handled(), city("city.case.closed", 5, closed, outcome="结案")]
    tc = clock_of(events)
    assert tc.closed_at is None and tc.close_recorded_at == closed
    assert tc.window is not None and tc.window.stage == "verify"
    assert sla(tc, RULES, tc.window.due)["level"] == "red"
    kinds = {(n.type, n.data.get("stage")) for n in notices(THREAD, tc, RULES)}
    assert ("hub.case.urged", "verify") in kinds
    late = tc.window.due + timedelta(hours=1)
    tc = clock_of([*events, city("city.case.verified", 4, late, passed=True)], shuffle=2)
    assert tc.window is None and tc.closed_at == late and tc.close_recorded_at == closed
    assert sla(tc, RULES, late)["stage"] == "closed"


# -- notices as the clock was known when each fell due --------------------------------------
def test_a_warning_due_before_its_stage_was_done_is_raised_however_late_the_hub_learns() -> None:
    """Given a garbage case reported at 09:00 (yellow at 10:36, red at 11:00), when it was
    registered at 10:50 and the hub learns of both at once (behind its intake, or after a
    restart), then the yellow warning is still raised, due at 10:36, and the red one is not;
    registered at 10:30, neither."""
    from projections.coordination.clock import Mark
    from projections.coordination.notices import raised_by

    report = Mark(T0, "e-0", "report", {"agency": "city", "category": "garbage"})

    def register(at: datetime) -> list[tuple[str, str, datetime]]:
        done = Mark(at, "e-1", "done", {"stage": "register"})
        return [
            (n.type, n.data["level"], n.due)
            for n in raised_by(THREAD, [report, done], RULES)
            if n.data.get("stage") == "register"
        ]

    assert register(T0 + timedelta(hours=1, minutes=50)) == [
        ("hub.case.warned", "yellow", T0 + timedelta(hours=1, minutes=36))
    ]
    assert register(T0 + timedelta(hours=1, minutes=30)) == []


def test_the_notices_a_history_raises_are_the_simulators_truth() -> None:
    """Given a simulated city, when each matter's marks are read whole, then the notices
    they raise (due by the city's end) are exactly the simulator's ground truth."""
    from hub.sim.city import SimConfig, simulate
    from hub.sim.notices import mark_of, notice_truth
    from projections.coordination.notices import raised_by

    city = simulate(SimConfig(seed=5, events=3000))
    end = city[-1].time
    marks: dict[str, list[Any]] = {}
    for e in city:
        m = mark_of(e.event) if e.truth.get("matter") else None
        if m is not None:
            marks.setdefault(e.truth["matter"], []).append(m)
    got = {
        (matter, n.type, n.due)
        for matter, ms in marks.items()
        for n in raised_by(matter, sorted(ms), RULES)
        if n.due <= end
    }
    want = {(x["matter"], x["type"], x["due"]) for x in notice_truth(city, RULES, end)}
    assert len(want) > 100 and got == want


def _raised(events: list[dict[str, Any]]) -> list[Any]:
    from projections.coordination.notices import raised_by

    return raised_by(THREAD, _marks(events), RULES)


def test_a_later_stage_done_says_the_earlier_ones_were_but_not_the_verification() -> None:
    """An outside probe: a garbage case dispatched, handled, verified and closed on time
    whose registration the hub has not received is no late registration; a close without
    its verification still leaves the verification open."""
    due = "2026-03-10T00:00:00+08:00"
    at = [T0 + timedelta(minutes=m) for m in (40, 120, 300, 330)]
    events = [
        reported(),
        city("city.case.dispatched", 2, at[0], department="环卫所", due_at=due),
        city("city.case.handled", 3, at[1], result="ok"),
        city("city.case.verified", 4, at[2], passed=True),
        city("city.case.closed", 5, at[3], outcome="ok"),
    ]
    tc = clock_of(events)
    assert tc.window is None and tc.closed_at == at[3]
    assert _raised(events) == []
    unverified = clock_of([*events[:3], events[4]])
    assert unverified.window is not None and unverified.window.stage == "verify"


def test_a_stage_overdue_before_it_came_into_force_is_warned_when_it_does() -> None:
    """Handled three weeks late: the verification's share of the report's clock ran out
    long before, so it goes yellow and red (and is urged) as it comes into force, not at
    instants before the handling that put it in force; supervision follows 5 working days
    after that red."""
    handled = datetime(2026, 3, 24, 10, 0, tzinfo=SH)
    events = [*_through_dispatch(), city("city.case.handled", 3, handled, result="ok")]
    tc = clock_of(events)
    assert tc.window is not None and tc.window.stage == "verify" and tc.window.since == handled
    assert tc.window.due < handled
    verify = {
        (n.type, n.data.get("level")): n.due
        for n in _raised(events)
        if n.data.get("stage") == "verify"
    }
    assert verify[("hub.case.warned", "yellow")] == handled
    assert verify[("hub.case.warned", "red")] == handled
    assert verify[("hub.case.urged", None)] == handled
    assert verify[("hub.case.supervised", None)] == CAL.add_days(handled, 5)
    assert all(d >= handled for d in verify.values())


def test_each_late_stage_raises_the_case_a_level_further_up() -> None:
    """Handling overdue by more than 10 working days raises the case grid → community; the
    verification, overdue as it comes in and left undone, raises it community → street,
    never grid → community a second time."""
    handled = datetime(2026, 4, 7, 10, 0, tzinfo=SH)  # handle red 03-04 10:00; +10 d: 03-18
    events = [*_through_dispatch(), city("city.case.handled", 3, handled, result="ok")]
    raised = [n for n in _raised(events) if n.type == "hub.case.raised"]
    levels = [(n.data["from_level"], n.data["to_level"]) for n in raised]
    assert levels == [("grid", "community"), ("community", "street")]
    assert raised[0].data["rule"] and raised[0].due < handled <= raised[1].due
    assert clock_of(events).raised_to == "community"
    # a follow-up while it was still being handled (after the raising) changes none of it
    follow = city(
        "city.feedback.recorded", 9, datetime(2026, 3, 30, 10, tzinfo=SH), satisfied=False
    )
    again = [n for n in _raised([*events, follow]) if n.type == "hub.case.raised"]
    assert [(n.data["from_level"], n.data["to_level"]) for n in again] == levels
    assert clock_of([*events, follow]).raised_to == "community"


def _chain(marks: list[Any]) -> list[tuple[str, str]]:
    from projections.coordination.notices import raised_by

    raised = [n for n in raised_by(THREAD, marks, RULES) if n.type == "hub.case.raised"]
    return [(n.data["from_level"], n.data["to_level"]) for n in raised]


def _mark(at: datetime, kind: str, **attrs: Any) -> Any:
    from projections.coordination.clock import Mark

    return Mark(at, f"m-{at.isoformat()}-{kind}", kind, attrs)


def _day(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SH)


def test_the_levels_raised_form_one_chain_through_returns_mediation_and_bounces() -> None:
    """A review's cases: each raise starts where the last one ended, whatever ends a late
    stage (a return that brings the same stage back, a mediation that holds the matter), and
    nothing is raised from the top to the top; a stage done exactly at its raising instant
    was not raised (as the notices say: due strictly before the next mark)."""
    start = [
        _mark(T0, "report", agency="city", category="garbage"),
        _mark(T0 + timedelta(minutes=20), "done", stage="register"),
        _mark(T0 + timedelta(minutes=40), "done", stage="dispatch"),
    ]
    returned = [
        *start,
        _mark(_day(3, 20), "return", by_department="物业"),
        _mark(_day(3, 20, 11), "done", stage="dispatch"),
        _mark(_day(4, 24), "done", stage="handle"),
    ]
    assert _chain(returned) == [("grid", "community"), ("community", "street")]
    mediated = [
        *start,
        _mark(T0 + timedelta(hours=1), "mediate", due_at="2026-03-05T10:00:00+08:00", mediator="x"),
        _mark(_day(3, 25), "mediated"),
        _mark(_day(4, 24), "done", stage="handle"),
    ]
    chain = _chain(mediated)
    assert chain[:2] == [("grid", "community"), ("community", "street")]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chain))
    bounced = [
        *returned[:-1],
        _mark(_day(4, 24), "return", by_department="物业"),
        _mark(_day(4, 24, 11), "done", stage="dispatch"),
        _mark(_day(6, 24), "return", by_department="物业"),
    ]
    chain = _chain(bounced)
    assert chain[-1][1] == "district" and ("district", "district") not in chain
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chain))
    exact = [*start, _mark(_day(3, 18), "done", stage="handle")]  # handle's raising instant
    assert _chain(exact)[0] == ("grid", "community")  # the verify stage's, the first raise
    assert thread_clock(exact, RULES).raised_to == "grid"
