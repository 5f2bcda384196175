"""What every schedule shares: its zone, its start and end bounds, the ``next_after`` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import ClassVar

from eventbus.schedule.zones import EARLIEST, HORIZON, require_aware

__all__ = ["Schedule"]

# Firings are on or after ``start``: searching strictly after one microsecond earlier includes it.
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule(ABC):
    """A parsed schedule expression; ``next_after`` answers when it fires next.

    ``start`` and ``end`` are inclusive bounds (Scheduler's StartDate and EndDate): firings happen
    on or after ``start`` and on or before ``end``. Every firing lies in [EARLIEST, HORIZON)
    (years 1970-2199), so ``next_after`` takes any aware moment and never overflows.
    """

    kind: ClassVar[str]
    expression: str
    timezone: str
    zone: tzinfo
    start: datetime | None = None
    end: datetime | None = None

    def next_after(self, moment: datetime) -> datetime | None:
        """The first firing strictly after ``moment``, in the schedule's zone; None if none left."""
        require_aware(moment)
        if moment >= HORIZON:
            return None
        floor = EARLIEST if self.start is None else max(self.start, EARLIEST)
        if moment < floor:
            moment = floor - _TICK
        found = self._first_after(moment)
        if found is None or found >= HORIZON or (self.end is not None and found > self.end):
            return None
        return found

    def upcoming(self, moment: datetime, n: int) -> list[datetime]:
        """Up to ``n`` firings strictly after ``moment``, in order (fewer if the schedule ends)."""
        found: list[datetime] = []
        while len(found) < n:
            following = self.next_after(found[-1] if found else moment)
            if following is None:
                break
            found.append(following)
        return found

    @abstractmethod
    def _first_after(self, moment: datetime) -> datetime | None:
        """The first firing strictly after the aware ``moment``, ignoring ``end``."""
