"""``parse_schedule``: an expression, a zone and optional bounds → a ``Schedule``."""

from __future__ import annotations

from datetime import datetime

from eventbus.errors import InvalidScheduleError
from eventbus.schedule.at import AtSchedule, parse_at
from eventbus.schedule.base import Schedule
from eventbus.schedule.cron import CronSchedule, parse_cron
from eventbus.schedule.rate import RateSchedule, parse_rate
from eventbus.schedule.zones import (
    EARLIEST,
    HORIZON,
    RANGE_TEXT,
    in_range,
    load_zone,
    resolve_local,
)

__all__ = ["MAX_EXPRESSION_CHARS", "parse_schedule"]

# ScheduleExpression's API limit, for rules and for Scheduler alike.
MAX_EXPRESSION_CHARS = 256
_FORMS = "cron(...), rate(...) or at(...), without surrounding spaces"


def parse_schedule(
    expression: str,
    timezone: str = "UTC",
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Schedule:
    """Parse a schedule expression evaluated in ``timezone``, firing between ``start`` and ``end``.

    Raises ``InvalidScheduleError`` naming the faulty part (``cron.day-of-week``, ``rate.unit``,
    ``at``, ``timezone``, ``start_date``...) and what it allows. ``at()`` ignores the bounds, as
    Scheduler does for one-time schedules.
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise InvalidScheduleError(
            "expression", f"is {len(expression)} characters long; at most {MAX_EXPRESSION_CHARS}"
        )
    zone = load_zone(timezone)
    if expression.startswith("at("):
        local = parse_at(expression)
        instant = resolve_local(local, zone)
        if instant is not None and not EARLIEST <= instant < HORIZON:
            raise InvalidScheduleError("at", f"{expression} in {timezone} is outside {RANGE_TEXT}")
        return AtSchedule(expression=expression, timezone=timezone, zone=zone, local=local)
    first, last = _bounds(start, end)
    if expression.startswith("cron("):
        spec = parse_cron(expression)
        return CronSchedule(
            expression=expression, timezone=timezone, zone=zone, start=first, end=last, spec=spec
        )
    if expression.startswith("rate("):
        interval = parse_rate(expression)
        return RateSchedule(
            expression=expression,
            timezone=timezone,
            zone=zone,
            start=first,
            end=last,
            interval=interval,
        )
    raise InvalidScheduleError("expression", f"{expression!r} is not {_FORMS}")


def _bounds(
    start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    start_utc = _as_utc(start, "start_date")
    end_utc = _as_utc(end, "end_date")
    if start_utc is not None and end_utc is not None and end_utc < start_utc:
        raise InvalidScheduleError("end_date", f"{end_utc.isoformat()} is before start_date")
    return start_utc, end_utc


def _as_utc(moment: datetime | None, field: str) -> datetime | None:
    return None if moment is None else in_range(moment, field)
