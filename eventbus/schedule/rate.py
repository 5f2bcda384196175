"""``rate(value unit)``: a fixed interval, counted from the start date (else the Unix epoch).

Anchoring at ``start + k × interval`` lets every instance compute the same instants without
talking to the others. Intervals are absolute durations: a day is 24 hours even across a DST
change, as Scheduler documents for rates in days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from eventbus.errors import InvalidScheduleError
from eventbus.schedule.base import Schedule

__all__ = ["RateSchedule", "parse_rate"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_DIGITS = re.compile(r"[0-9]+")
_ALLOWED_UNITS = "minute, minutes, hour, hours, day, days (lower case)"


@dataclass(frozen=True, slots=True, kw_only=True)
class RateSchedule(Schedule):
    """Fires at ``anchor + k × interval`` for every whole k ≥ 0."""

    kind: ClassVar[str] = "rate"
    interval: timedelta

    def _first_after(self, moment: datetime) -> datetime | None:
        anchor = self.start or EPOCH
        if moment < anchor:
            return anchor.astimezone(self.zone)
        steps = (moment - anchor) // self.interval + 1
        try:
            return (anchor + steps * self.interval).astimezone(self.zone)
        except OverflowError:
            return None


def parse_rate(expression: str) -> timedelta:
    """The interval of a ``rate(...)`` expression, with EventBridge's refusals."""
    inner = expression[len("rate(") : -1] if expression.endswith(")") else ""
    parts = inner.split(" ")
    if len(parts) != 2:
        raise InvalidScheduleError(
            "rate", "must be rate(value unit) with one space and no other, e.g. rate(5 minutes)"
        )
    value_text, unit = parts
    if not _DIGITS.fullmatch(value_text) or int(value_text) == 0:
        raise InvalidScheduleError(
            "rate.value", f"{value_text!r} is not allowed; the value is a whole number of 1 or more"
        )
    value = int(value_text)
    singular = unit.removesuffix("s")
    if singular not in _UNITS:
        raise InvalidScheduleError(
            "rate.unit", f"{unit!r} is not allowed; the unit is one of {_ALLOWED_UNITS}"
        )
    expected = singular if value == 1 else singular + "s"
    if unit != expected:
        raise InvalidScheduleError(
            "rate.unit",
            f"{unit!r} is not allowed with {value}; the unit is singular for 1 and plural"
            f" otherwise: rate({value} {expected})",
        )
    try:
        return timedelta(seconds=value * _UNITS[singular])
    except OverflowError as e:
        reason = f"{value} {unit} is longer than Python can count"
        raise InvalidScheduleError("rate.value", reason) from e
