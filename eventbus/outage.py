"""Redis outages said once: the first error is a warning, then one summary at most every
``interval`` seconds, then a warning when Redis answers again.

Every loop of a router shares one :class:`OutageLog`, so stopping Redis under a running router
prints a few lines instead of one per loop per retry::

    outage = OutageLog(logging.getLogger("eventbus.worker"))
    outage.failed("reading the bus", error)   # warning: Redis unavailable
    outage.failed("moving retries", error)    # counted
    outage.ok()                               # warning: Redis available again
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["OUTAGE_SUMMARY_INTERVAL_SECONDS", "OutageLog"]

OUTAGE_SUMMARY_INTERVAL_SECONDS = 30.0


class OutageLog:
    """The state of one process's view of its Redis: up, or down since when."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = OUTAGE_SUMMARY_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.down_since: float | None = None
        self._said_at = 0.0
        self._errors = 0

    def failed(self, doing: str, error: BaseException) -> None:
        """A step could not reach Redis (the caller waits and tries again)."""
        now = self.clock()
        fields: dict[str, object] = {"doing": doing, "error": str(error) or type(error).__name__}
        if self.down_since is None:
            self.down_since, self._said_at, self._errors = now, now, 0
            self.logger.warning("Redis unavailable; retrying", extra={"fields": fields})
            return
        self._errors += 1
        if now - self._said_at >= self.interval:
            fields |= {"errors": self._errors, "down_seconds": round(now - self.down_since)}
            self.logger.warning("Redis still unavailable; retrying", extra={"fields": fields})
            self._said_at, self._errors = now, 0

    def ok(self) -> None:
        """A step reached Redis: an outage, if any, is over."""
        if self.down_since is not None:
            down = round(self.clock() - self.down_since, 1)
            self.down_since = None
            self.logger.warning("Redis available again", extra={"fields": {"down_seconds": down}})
