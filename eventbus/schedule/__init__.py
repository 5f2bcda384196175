"""Schedule expressions (pure): ``cron(...)``, ``rate(...)``, ``at(...)``, read as EventBridge does.

``parse_schedule(expression, timezone, start=, end=)`` returns a ``Schedule`` whose
``next_after(moment)`` is the first firing strictly after ``moment``. See docs/schedules.md.
"""

from __future__ import annotations

from eventbus.schedule.at import AtSchedule
from eventbus.schedule.base import Schedule
from eventbus.schedule.cron import CronSchedule
from eventbus.schedule.parse import MAX_EXPRESSION_CHARS, parse_schedule
from eventbus.schedule.rate import RateSchedule

__all__ = [
    "MAX_EXPRESSION_CHARS",
    "AtSchedule",
    "CronSchedule",
    "RateSchedule",
    "Schedule",
    "parse_schedule",
]
