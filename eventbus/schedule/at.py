"""``at(yyyy-mm-ddThh:mm:ss)``: one firing, at a wall-clock time in the schedule's zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from eventbus.errors import InvalidScheduleError
from eventbus.schedule.base import Schedule
from eventbus.schedule.zones import EARLIEST, HORIZON, resolve_local

__all__ = ["AtSchedule", "parse_at"]

# Scheduler refuses a Z suffix, an offset and a date without a time.
_AT = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)", re.ASCII)
_FORM = (
    "must be at(yyyy-mm-ddThh:mm:ss), a local time in the schedule's time zone, without Z or offset"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AtSchedule(Schedule):
    """Fires once at ``local`` in the zone; never when that local time falls in a DST gap."""

    kind: ClassVar[str] = "at"
    local: datetime

    def _first_after(self, moment: datetime) -> datetime | None:
        instant = resolve_local(self.local, self.zone)
        return instant if instant is not None and instant > moment else None


def parse_at(expression: str) -> datetime:
    """The naive local time an ``at(...)`` expression names."""
    found = _AT.fullmatch(expression)
    if found is None:
        raise InvalidScheduleError("at", _FORM)
    try:
        year, month, day, hour, minute, second = (int(part) for part in found.groups())
        local = datetime(year, month, day, hour, minute, second)
    except ValueError as e:
        raise InvalidScheduleError("at", f"{expression} is not a real date and time: {e}") from e
    # Checked here, before any zone conversion, which would overflow near year 9999.
    if not EARLIEST.year <= year < HORIZON.year:
        raise InvalidScheduleError("at", f"{expression}: the year must be from 1970 to 2199")
    return local
