"""Time zones and the daylight-saving rule every calendar schedule follows.

EventBridge Scheduler's rule: a local time that does not exist on a given day (clocks jump
forward over it) is skipped, and a local time that happens twice (clocks fall back) fires once,
at its first occurrence. ``resolve_local`` is that rule in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eventbus.errors import InvalidScheduleError

__all__ = ["EARLIEST", "HORIZON", "in_range", "load_zone", "require_aware", "resolve_local"]

# ScheduleExpressionTimezone's API limit.
MAX_ZONE_CHARS = 50
# Every instant a schedule names or computes lies in [EARLIEST, HORIZON): the years of cron's
# Year field (1970-2199). Far from datetime's own limits (years 1-9999) in any zone, so no
# conversion or step of the schedule maths can overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
HORIZON = datetime(2200, 1, 1, tzinfo=UTC)
RANGE_TEXT = "the supported range, 1970-01-01T00:00:00Z up to 2200-01-01T00:00:00Z"


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
    """``moment`` itself; ``InvalidScheduleError`` (a ``ValueError``) on ``what`` when it has no
    UTC offset, since its instant is unknown."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidScheduleError(
            what, f"must be an aware datetime (with a UTC offset), got {moment!r}"
        )
    return moment


def in_range(moment: datetime, what: str) -> datetime:
    """The aware ``moment`` in UTC; ``InvalidScheduleError`` on ``what`` when it has no offset or
    lies outside [EARLIEST, HORIZON)."""
    require_aware(moment, what)
    # Comparing aware datetimes never overflows; converting one near year 1 or 9999 may.
    if not EARLIEST <= moment < HORIZON:
        raise InvalidScheduleError(what, f"{moment.isoformat()} is outside {RANGE_TEXT}")
    return moment.astimezone(UTC)


def resolve_local(naive: datetime, zone: tzinfo) -> datetime | None:
    """The instant a wall-clock time in ``zone`` names: None in a DST gap, the first in a fold."""
    first = naive.replace(tzinfo=zone, fold=0)
    normalised = first.astimezone(UTC).astimezone(zone)
    if normalised.replace(tzinfo=None) != naive:
        return None
    return normalised
