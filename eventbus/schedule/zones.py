"""Time zones and the daylight-saving rule every calendar schedule follows.

EventBridge Scheduler's rule: a local time that does not exist on a given day (clocks jump
forward over it) is skipped, and a local time that happens twice (clocks fall back) fires once,
at its first occurrence. ``resolve_local`` is that rule in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eventbus.errors import InvalidScheduleError

__all__ = ["load_zone", "require_aware", "resolve_local"]

# ScheduleExpressionTimezone's API limit.
MAX_ZONE_CHARS = 50


def load_zone(name: str) -> tzinfo:
    """The IANA zone called ``name``; ``InvalidScheduleError`` on ``timezone`` when unknown."""
    if name == "UTC":
        return UTC
    reason = f"{name!r} is not an IANA time zone name (e.g. UTC, Europe/Paris, America/New_York)"
    if not name or len(name) > MAX_ZONE_CHARS:
        raise InvalidScheduleError("timezone", reason)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        # ZoneInfo raises ValueError for names that look like paths ("../x", "/etc").
        raise InvalidScheduleError("timezone", reason) from e


def require_aware(moment: datetime, what: str = "moment") -> datetime:
    """``moment`` itself; ``ValueError`` when it has no UTC offset, since its instant is unknown."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime (with a UTC offset), got {moment!r}")
    return moment


def resolve_local(naive: datetime, zone: tzinfo) -> datetime | None:
    """The instant a wall-clock time in ``zone`` names: None in a DST gap, the first in a fold."""
    first = naive.replace(tzinfo=zone, fold=0)
    normalised = first.astimezone(UTC).astimezone(zone)
    if normalised.replace(tzinfo=None) != naive:
        return None
    return normalised
