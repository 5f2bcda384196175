"""``cron(Minutes Hours Day-of-month Month Day-of-week Year)``, exactly as EventBridge reads it.

Our own field-set evaluator rather than croniter: croniter numbers days of the week from 0 =
Sunday, reads a sixth field as seconds, has no year field nor ``xL``, and its ``W`` and DST
handling differ from Scheduler's. Here each field becomes a sorted set of values (days come from
the rules in ``days.py``), and the next firing is found by walking years, months, days, hours and
minutes in order, so a schedule that fires once in 2150 is found as fast as an hourly one.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import ClassVar

from eventbus.errors import InvalidScheduleError
from eventbus.schedule.base import Schedule
from eventbus.schedule.days import (
    DayRule,
    DaysOfMonth,
    LastDay,
    LastWeekday,
    LastWeekdayOf,
    NearestWeekday,
    NthWeekday,
    Weekdays,
    month_days,
)
from eventbus.schedule.zones import resolve_local

__all__ = ["CronSchedule", "CronSpec", "parse_cron"]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_FIELD_NAMES = "Minutes Hours Day-of-month Month Day-of-week Year"
_ITEM = re.compile(r"(?:(\*)|([0-9A-Z]+)(?:-([0-9A-Z]+))?)(?:/([0-9]+))?", re.ASCII)
_VALUE = r"[0-9]+|[A-Z]{3}"
_LAST_OFFSET = re.compile(r"L-([0-9]+)", re.ASCII)
_NEAREST = re.compile(r"([0-9]+)W", re.ASCII)
_LAST_OF = re.compile(rf"({_VALUE})L", re.ASCII)
_NTH = re.compile(rf"({_VALUE})#([0-9]+)", re.ASCII)


@dataclass(frozen=True, slots=True)
class _Field:
    """One of the six fields: its name, value range, names and the wildcards it takes."""

    name: str
    low: int
    high: int
    wildcards: str
    names: tuple[str, ...] = ()
    wraps: bool = True

    def refuse(self, item: str, why: str = "") -> InvalidScheduleError:
        values = f"{self.low}-{self.high}"
        if self.names:
            values += f" or {self.names[0]}-{self.names[-1]}"
        if self.name == "day-of-week":
            values += " (1 = SUN)"
        return InvalidScheduleError(
            f"cron.{self.name}",
            f"{item!r} is not allowed{why}; allowed: {values}, with the wildcards {self.wildcards}",
        )

    def value(self, token: str) -> int:
        if token.isdigit():
            number = int(token)
            if self.low <= number <= self.high:
                return number
            raise self.refuse(token, " (out of range)")
        if token in self.names:
            return self.low + self.names.index(token)
        raise self.refuse(token)

    def span(self, item: str, low: int, high: int) -> list[int]:
        """``low``-``high`` inclusive; when ``low > high`` the range wraps past the field's end."""
        if low <= high:
            return list(range(low, high + 1))
        if not self.wraps:
            raise self.refuse(item, f" (a {self.name} range cannot wrap around)")
        return list(range(low, self.high + 1)) + list(range(self.low, high + 1))


MINUTES = _Field("minutes", 0, 59, ", - * /")
HOURS = _Field("hours", 0, 23, ", - * /")
DAY_OF_MONTH = _Field("day-of-month", 1, 31, ", - * ? / L W")
MONTH = _Field("month", 1, 12, ", - * /", _MONTHS)
DAY_OF_WEEK = _Field("day-of-week", 1, 7, ", - * ? L #", _WEEKDAYS)
YEAR = _Field("year", 1970, 2199, ", - * /", wraps=False)


@dataclass(frozen=True, slots=True)
class CronSpec:
    """The value sets of a cron expression; ``day_rules`` holds whichever day field is not ``?``."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    day_rules: tuple[DayRule, ...]

    def wall_times_from(self, start: datetime) -> Iterator[datetime]:
        """Every selected wall-clock minute at or after the naive ``start``, in order."""
        first_day = start.date()
        for day in self._days_from(first_day):
            floor = start.time() if day == first_day else None
            for hour, minute in self._times_from(floor):
                yield datetime.combine(day, time(hour, minute))

    def _days_from(self, first: date) -> Iterator[date]:
        for year in self.years[bisect_left(self.years, first.year) :]:
            for month in self.months:
                if (year, month) < (first.year, first.month):
                    continue
                for day in month_days(self.day_rules, year, month):
                    candidate = date(year, month, day)
                    if candidate >= first:
                        yield candidate

    def _times_from(self, floor: time | None) -> Iterator[tuple[int, int]]:
        for hour in self.hours:
            for minute in self.minutes:
                if floor is None or (hour, minute) >= (floor.hour, floor.minute):
                    yield hour, minute


@dataclass(frozen=True, slots=True, kw_only=True)
class CronSchedule(Schedule):
    """Fires at each wall-clock minute the fields select, in the schedule's zone."""

    kind: ClassVar[str] = "cron"
    spec: CronSpec

    def _first_after(self, moment: datetime) -> datetime | None:
        local = moment.astimezone(self.zone)
        start = local.replace(tzinfo=None, second=0, microsecond=0, fold=0)
        for wall in self.spec.wall_times_from(start):
            instant = resolve_local(wall, self.zone)
            if instant is not None and instant > moment:
                return instant
        return None


def parse_cron(expression: str) -> CronSpec:
    """The ``CronSpec`` of a ``cron(...)`` expression, with EventBridge's refusals."""
    inner = expression[len("cron(") : -1] if expression.endswith(")") else ""
    fields = inner.split(" ")
    if len(fields) != 6:
        raise InvalidScheduleError(
            "cron",
            f"must be cron({_FIELD_NAMES}): six fields separated by single spaces,"
            f" got {expression!r}",
        )
    minutes, hours, dom, month, dow, year = (field.upper() for field in fields)
    return CronSpec(
        minutes=_sorted(MINUTES, minutes),
        hours=_sorted(HOURS, hours),
        months=_sorted(MONTH, month),
        years=_sorted(YEAR, year),
        day_rules=_day_rules(dom, dow),
    )


def _sorted(field: _Field, text: str) -> tuple[int, ...]:
    return tuple(sorted({value for item in text.split(",") for value in _values(field, item)}))


def _values(field: _Field, item: str) -> list[int]:
    """The values of one list item: ``*``, ``a`` or ``a-b``, each with an optional ``/step``."""
    found = _ITEM.fullmatch(item)
    if found is None:
        raise field.refuse(item)
    star, low_text, high_text, step_text = found.groups()
    if step_text is not None and "/" not in field.wildcards:
        raise field.refuse(item, " (no / increments in this field)")
    step = int(step_text) if step_text is not None else 1
    if step == 0:
        raise field.refuse(item, " (the increment must be 1 or more)")
    if star:
        return field.span(item, field.low, field.high)[::step]
    low = field.value(low_text)
    if high_text is not None:
        high = field.value(high_text)
    else:
        high = field.high if step_text is not None else low
    return field.span(item, low, high)[::step]


def _day_rules(dom: str, dow: str) -> tuple[DayRule, ...]:
    if (dom == "?") == (dow == "?"):
        raise InvalidScheduleError(
            "cron.day-of-week",
            f"day-of-month {dom!r} and day-of-week {dow!r}: exactly one of the two must be ?"
            " (a * in one requires ? in the other)",
        )
    if dom == "?":
        return _weekday_rules(dow)
    return _month_day_rules(dom)


def _month_day_rules(text: str) -> tuple[DayRule, ...]:
    return _split_day_rules(text.split(","), DAY_OF_MONTH, _month_day_special, DaysOfMonth)


def _split_day_rules(
    items: list[str],
    field: _Field,
    special_rule: Callable[[str], DayRule | None],
    plain_rule: Callable[[frozenset[int]], DayRule],
) -> tuple[DayRule, ...]:
    """The special items (L, W, #, ...) each as its own rule; the plain values as one."""
    rules: list[DayRule] = []
    plain: set[int] = set()
    for item in items:
        special = special_rule(item)
        if special is None:
            plain.update(_values(field, item))
        else:
            rules.append(special)
    if plain:
        rules.append(plain_rule(frozenset(plain)))
    return tuple(rules)


def _month_day_special(item: str) -> DayRule | None:
    if item == "L":
        return LastDay()
    if item == "LW":
        return LastWeekday()
    if offset := _LAST_OFFSET.fullmatch(item):
        days_before = int(offset.group(1))
        if days_before > 30:
            raise DAY_OF_MONTH.refuse(item, " (L-n takes n from 0 to 30)")
        return LastDay(days_before)
    if nearest := _NEAREST.fullmatch(item):
        return NearestWeekday(DAY_OF_MONTH.value(nearest.group(1)))
    return None


def _weekday_rules(text: str) -> tuple[DayRule, ...]:
    items = text.split(",")
    if sum("#" in item for item in items) > 1:
        raise DAY_OF_WEEK.refuse(text, " (only one # expression per field)")
    return _split_day_rules(items, DAY_OF_WEEK, _weekday_special, Weekdays)


def _weekday_special(item: str) -> DayRule | None:
    if item == "L":
        # Alone, L is the last day of the week: Saturday.
        return Weekdays(frozenset({7}))
    if last := _LAST_OF.fullmatch(item):
        return LastWeekdayOf(DAY_OF_WEEK.value(last.group(1)))
    if nth := _NTH.fullmatch(item):
        week = int(nth.group(2))
        if not 1 <= week <= 5:
            raise DAY_OF_WEEK.refuse(item, " (x#n takes n from 1 to 5)")
        return NthWeekday(DAY_OF_WEEK.value(nth.group(1)), week)
    return None
