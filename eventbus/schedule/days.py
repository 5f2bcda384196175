"""Which days of a month a cron expression's day-of-month or day-of-week field selects.

Each rule answers for a month described only by the weekday of its 1st and its length, so the
answers for every month of every year come from 7 × 4 cached cases. Day-of-week numbers are
EventBridge's: 1 = Sunday … 7 = Saturday. Python's ``date.weekday()`` (0 = Monday) is used only
inside this module.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

__all__ = [
    "DayRule",
    "DaysOfMonth",
    "LastDay",
    "LastWeekday",
    "LastWeekdayOf",
    "NearestWeekday",
    "NthWeekday",
    "Weekdays",
    "month_days",
]

_SATURDAY, _SUNDAY = 5, 6  # Python's numbering


def _python_weekday(aws_weekday: int) -> int:
    return (aws_weekday + 5) % 7


class DayRule(Protocol):
    def days(self, first: int, length: int) -> Iterable[int]:
        """The days chosen in a month of ``length`` days whose 1st is Python weekday ``first``."""
        ...


@dataclass(frozen=True, slots=True)
class DaysOfMonth:
    """Plain day numbers; a day the month lacks (31 in April) selects nothing."""

    values: frozenset[int]

    def days(self, first: int, length: int) -> Iterable[int]:
        return (day for day in self.values if day <= length)


@dataclass(frozen=True, slots=True)
class LastDay:
    """``L`` (offset 0) and ``L-n``: the last day of the month, or n days before it."""

    offset: int = 0

    def days(self, first: int, length: int) -> Iterable[int]:
        day = length - self.offset
        return (day,) if day >= 1 else ()


@dataclass(frozen=True, slots=True)
class NearestWeekday:
    """``nW``: the weekday (Monday to Friday) nearest day n, never leaving the month."""

    day: int

    def days(self, first: int, length: int) -> Iterable[int]:
        if self.day > length:
            return ()
        return (_weekday_near(self.day, first, length),)


@dataclass(frozen=True, slots=True)
class LastWeekday:
    """``LW``: the last weekday (Monday to Friday) of the month."""

    def days(self, first: int, length: int) -> Iterable[int]:
        return (_weekday_near(length, first, length),)


def _weekday_near(day: int, first: int, length: int) -> int:
    weekday = (first + day - 1) % 7
    if weekday == _SATURDAY:
        return day - 1 if day > 1 else day + 2
    if weekday == _SUNDAY:
        return day + 1 if day < length else day - 2
    return day


@dataclass(frozen=True, slots=True)
class Weekdays:
    """Plain day-of-week numbers: every such day of the month."""

    values: frozenset[int]

    def days(self, first: int, length: int) -> Iterable[int]:
        wanted = {_python_weekday(value) for value in self.values}
        return (day for day in range(1, length + 1) if (first + day - 1) % 7 in wanted)


@dataclass(frozen=True, slots=True)
class LastWeekdayOf:
    """``xL``: the last day x of the month (``6L`` is the last Friday)."""

    weekday: int

    def days(self, first: int, length: int) -> Iterable[int]:
        last = (first + length - 1) % 7
        return (length - (last - _python_weekday(self.weekday)) % 7,)


@dataclass(frozen=True, slots=True)
class NthWeekday:
    """``x#n``: the n-th day x of the month; nothing in a month that has fewer."""

    weekday: int
    nth: int

    def days(self, first: int, length: int) -> Iterable[int]:
        day = 1 + (_python_weekday(self.weekday) - first) % 7 + 7 * (self.nth - 1)
        return (day,) if day <= length else ()


def month_days(rules: tuple[DayRule, ...], year: int, month: int) -> tuple[int, ...]:
    """The sorted days of ``year``-``month`` that any of ``rules`` selects."""
    first, length = calendar.monthrange(year, month)
    return _month_shape_days(rules, first, length)


@lru_cache(maxsize=8192)
def _month_shape_days(rules: tuple[DayRule, ...], first: int, length: int) -> tuple[int, ...]:
    return tuple(sorted({day for rule in rules for day in rule.days(first, length)}))
