"""The coordination rules as data: a TOML file (the shipped ``default.toml``, or the one
``HUB_RULES`` names), read into frozen records and checked with errors that name the key
and say what is wrong. Versioned: every notice cites the rules' ``id`` and ``version``."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from projections.coordination.worktime import CalendarError, WorkCalendar

DEFAULT_RULES = Path(__file__).with_name("default.toml")
_LIMIT = re.compile(r"^(?P<n>\d+(\.\d+)?)(?P<unit>[hd])$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Limit:
    """A limit in working time: ``amount`` working hours (``h``) or days (``d``)."""

    amount: float
    unit: str

    def __str__(self) -> str:
        n = int(self.amount) if self.amount == int(self.amount) else self.amount
        return f"{n}{self.unit}"

    def span(self, cal: WorkCalendar) -> timedelta:
        if self.unit == "h":
            return timedelta(hours=self.amount)
        return cal.day_length * self.amount


@dataclass(frozen=True)
class Category:
    name: str
    agency: str
    department: str
    level: str
    limits: dict[str, Limit]  # every stage, the category's own over the defaults


@dataclass(frozen=True)
class Diversion:
    incident_category: str
    to_agency: str
    department: str
    category: str  # the city category whose clock the diverted matter runs


@dataclass(frozen=True)
class Rules:
    id: str
    version: int
    calendar: WorkCalendar
    stages: tuple[str, ...]
    default_limits: dict[str, Limit]
    categories: dict[str, Category]
    diversions: dict[str, Diversion]
    levels: tuple[str, ...]
    command_center: str
    command_center_agency: str
    yellow_at: float
    red_at: float
    supervised_after: Limit
    raised_after: Limit
    bounced_at: int
    bounce_raised_at: int
    provisional_years: tuple[int, ...] = ()

    @property
    def cite(self) -> dict[str, Any]:
        """What a notice carries as its ``rule``."""
        return {"id": self.id, "version": self.version}

    def category(self, name: str | None) -> Category | None:
        return self.categories.get(name) if name else None

    def limits(self, category: str | None) -> dict[str, Limit]:
        cat = self.category(category)
        return cat.limits if cat else self.default_limits

    def level_above(self, level: str) -> str:
        """The next level up the ladder (the command center stays where it is)."""
        i = self.levels.index(level) if level in self.levels else 0
        return self.levels[min(i + 1, len(self.levels) - 1)]


class _Reader:
    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, key: str, why: str) -> RulesError:
        return RulesError(f"{self.origin}: {key}: {why}")

    def get(self, doc: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
        name = f"{where}.{key}" if where else key
        if key not in doc:
            raise self.fail(name, "is required")
        value = doc[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(name, f"must be {want}, got {value!r}")
        return value

    def limit(self, raw: Any, name: str) -> Limit:
        m = _LIMIT.match(raw) if isinstance(raw, str) else None
        if not m or float(m.group("n")) <= 0:
            raise self.fail(name, f"must be working hours or days like '4h' or '20d', got {raw!r}")
        return Limit(float(m.group("n")), m.group("unit"))

    def clock(self, raw: Any, name: str) -> time:
        try:
            return time.fromisoformat(raw)
        except (TypeError, ValueError):
            raise self.fail(name, f"must be a time of day like '09:00', got {raw!r}") from None

    def days(self, raw: Any, name: str) -> frozenset[date]:
        if not isinstance(raw, list):
            raise self.fail(name, "must be a list of dates like '2026-10-01'")
        out = set()
        for i, d in enumerate(raw):
            if isinstance(d, date) and not isinstance(d, datetime):
                out.add(d)
                continue
            try:
                out.add(date.fromisoformat(d))
            except (TypeError, ValueError):
                why = f"must be a date like '2026-10-01', got {d!r}"
                raise self.fail(f"{name}[{i}]", why) from None
        return frozenset(out)

    def share(self, doc: dict[str, Any], key: str, where: str) -> float:
        v = float(self.get(doc, key, (int, float), where))
        if not 0 < v <= 2:
            raise self.fail(f"{where}.{key}", f"must be a share of the limit in (0, 2], got {v}")
        return v


def parse_rules(doc: dict[str, Any], origin: str = "rules") -> Rules:
    """Rules from a parsed TOML document; :class:`RulesError` names what is wrong."""
    rd = _Reader(origin)
    rid = rd.get(doc, "id", str, "")
    if not _ID.match(rid):
        raise rd.fail("id", f"must be letters, digits and . _ / -, got {rid!r}")
    version = rd.get(doc, "version", int, "")
    if version < 1:
        raise rd.fail("version", f"must be 1 or more, got {version}")
    try:
        zone = ZoneInfo(rd.get(doc, "timezone", str, ""))
    except (ZoneInfoNotFoundError, ValueError):
        raise rd.fail("timezone", f"is not a known time zone: {doc['timezone']!r}") from None
    periods = []
    for i, p in enumerate(rd.get(doc, "working_periods", list, "")):
        if not isinstance(p, list) or len(p) != 2:
            raise rd.fail(f"working_periods[{i}]", f"must be [start, end], got {p!r}")
        periods.append(
            (rd.clock(p[0], f"working_periods[{i}][0]"), rd.clock(p[1], f"working_periods[{i}][1]"))
        )
    cal_doc = rd.get(doc, "calendar", dict, "")
    try:
        cal = WorkCalendar(
            zone,
            tuple(periods),
            rd.days(cal_doc.get("holidays", []), "calendar.holidays"),
            rd.days(cal_doc.get("workdays", []), "calendar.workdays"),
        )
    except CalendarError as exc:
        raise rd.fail("working_periods/calendar", str(exc)) from None
    for d in sorted(cal.workdays):
        if d.weekday() < 5:
            raise rd.fail("calendar.workdays", f"{d} is a weekday already: not a make-up day")
    stages = tuple(rd.get(doc, "stages", list, ""))
    if not stages or len(set(stages)) != len(stages) or not all(isinstance(s, str) for s in stages):
        raise rd.fail("stages", f"must be distinct stage names, got {list(stages)!r}")
    lim_doc = rd.get(doc, "limits", dict, "")
    defaults = {}
    for s in stages:
        if s not in lim_doc:
            raise rd.fail(f"limits.{s}", "is required (every stage needs a default limit)")
        defaults[s] = rd.limit(lim_doc[s], f"limits.{s}")
    for extra in set(lim_doc) - set(stages):
        raise rd.fail(f"limits.{extra}", f"is not a stage (stages: {', '.join(stages)})")
    ladder = rd.get(doc, "ladder", dict, "")
    levels = tuple(rd.get(ladder, "levels", list, "ladder"))
    if len(levels) < 2 or len(set(levels)) != len(levels):
        raise rd.fail("ladder.levels", f"must be two or more distinct levels, got {list(levels)!r}")
    center = rd.get(ladder, "command_center", str, "ladder")
    if center not in levels:
        raise rd.fail("ladder.command_center", f"{center!r} is not one of ladder.levels")
    categories = {}
    for name, c in rd.get(doc, "categories", dict, "").items():
        where = f"categories.{name}"
        if not isinstance(c, dict):
            raise rd.fail(where, "must be a table")
        level = rd.get(c, "level", str, where)
        if level not in levels:
            raise rd.fail(f"{where}.level", f"{level!r} is not one of ladder.levels")
        own = c.get("limits", {})
        if not isinstance(own, dict):
            raise rd.fail(f"{where}.limits", "must be a table of stage = limit")
        limits = dict(defaults)
        for s, raw in own.items():
            if s not in stages:
                raise rd.fail(f"{where}.limits.{s}", f"is not a stage ({', '.join(stages)})")
            limits[s] = rd.limit(raw, f"{where}.limits.{s}")
        agency = rd.get(c, "agency", str, where)
        department = rd.get(c, "department", str, where)
        categories[name] = Category(name, agency, department, level, limits)
    diversions = {}
    for name, d in doc.get("diversions", {}).items():
        where = f"diversions.{name}"
        if not isinstance(d, dict):
            raise rd.fail(where, "must be a table")
        target = rd.get(d, "category", str, where)
        if target not in categories:
            raise rd.fail(f"{where}.category", f"{target!r} is not in [categories]")
        diversions[name] = Diversion(
            name, rd.get(d, "to_agency", str, where), rd.get(d, "department", str, where), target
        )
    sup = rd.get(doc, "supervision", dict, "")
    yellow, red = rd.share(sup, "yellow_at", "supervision"), rd.share(sup, "red_at", "supervision")
    if not yellow < red:
        raise rd.fail("supervision.yellow_at", f"must be below red_at ({yellow} >= {red})")
    supervised = rd.limit(
        rd.get(sup, "supervised_after", str, "supervision"), "supervision.supervised_after"
    )
    raised = rd.limit(rd.get(sup, "raised_after", str, "supervision"), "supervision.raised_after")
    if raised.span(cal) <= supervised.span(cal):
        raise rd.fail("supervision.raised_after", "must come after supervised_after")
    bounce = rd.get(doc, "bounce", dict, "")
    bounced_at = rd.get(bounce, "bounced_at", int, "bounce")
    raised_at = rd.get(bounce, "raised_at", int, "bounce")
    if not 1 <= bounced_at < raised_at:
        raise rd.fail("bounce", f"need 1 <= bounced_at < raised_at, got {bounced_at}, {raised_at}")
    return Rules(
        id=rid,
        version=version,
        calendar=cal,
        stages=stages,
        default_limits=defaults,
        categories=categories,
        diversions=diversions,
        levels=levels,
        command_center=center,
        command_center_agency=str(ladder.get("command_center_agency", "city")),
        yellow_at=yellow,
        red_at=red,
        supervised_after=supervised,
        raised_after=raised,
        bounced_at=bounced_at,
        bounce_raised_at=raised_at,
        provisional_years=tuple(int(y) for y in cal_doc.get("provisional_years", [])),
    )


def load_rules(path: Path | None = None) -> Rules:
    """The rules in ``path`` (the shipped default when None)."""
    path = path or DEFAULT_RULES
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"{path}: cannot read the rules file ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: not valid TOML ({exc})") from None
    return parse_rules(doc, str(path))
