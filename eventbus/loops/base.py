"""What every loop shares: tick, survive one bad item, back off on errors, stop on an event."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import ClassVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from eventbus.errors import BusError
from eventbus.outage import OutageLog

__all__ = ["TRANSIENT", "Loop"]

log = logging.getLogger("eventbus.worker")

# What a Redis outage looks like to the loops: they wait and try again.
TRANSIENT = (RedisConnectionError, RedisTimeoutError, BusError, OSError)


class Loop:
    """One job done round after round until ``stop`` is set.

    ``step()`` does a round, then the loop waits ``interval()`` seconds (less when stopped). A
    round that raises is logged (a Redis error as a warning, anything else with its traceback),
    ``recover()`` runs, and the next round starts after ``pause`` seconds: only ``stop`` ends a
    loop. Inside a round, each item (an entry, a lane, a rule, a stream) is guarded on its own
    with :meth:`item_failed`, so one bad item costs the others nothing.

    Loops end by seeing ``stop``, never by ``cancel()``: a cancellation landing inside a
    redis-py call can be swallowed and leave the loop running.
    """

    name: ClassVar[str]  # what the logs call it: "bus reader", "trimmer", ...
    waits_first: ClassVar[bool] = False  # whether the first round comes after one interval
    # Shared by a process's loops, so a Redis outage is said once, not per loop per retry.
    outage: OutageLog | None = None

    def __init__(self, stop: asyncio.Event, *, every: float = 0.0, pause: float = 0.5) -> None:
        self.stop = stop
        self.every = every
        self.pause = pause

    async def step(self) -> None:
        """One round of the job."""
        raise NotImplementedError

    def interval(self) -> float:
        """Seconds between two rounds (0: the round itself waits, e.g. a blocking read)."""
        return self.every

    async def recover(self, error: Exception) -> None:
        """Make ready for the next round after ``error`` ended one (nothing by default)."""

    async def finish(self) -> None:
        """What is left to do once stopped (nothing by default)."""

    async def nap(self, seconds: float) -> None:
        """Let ``seconds`` pass (the scheduler's loop follows its own clock)."""
        await asyncio.sleep(seconds)

    async def run(self) -> None:
        if self.waits_first:
            await self.sleep(self.interval())
        while not self.stop.is_set():
            try:
                await self.step()
            except Exception as e:
                self._report(e)
                try:
                    await self.recover(e)
                except Exception as again:
                    self._report(again)
                await self.sleep(self.pause)
                continue
            await self.sleep(self.interval())
        await self.finish()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or until stopped."""
        if seconds <= 0 or self.stop.is_set():
            return
        napping = asyncio.ensure_future(self.nap(seconds))
        stopped = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait([napping, stopped], return_when=asyncio.FIRST_COMPLETED)
        for task in (napping, stopped):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def reached_redis(self) -> None:
        """Redis answered: an outage, if one was said, is over. Called by the loops that ask
        Redis something every round (not every round of every loop touches Redis)."""
        if self.outage is not None:
            self.outage.ok()

    def item_failed(self, item: str, error: Exception) -> None:
        """Log one item's failure with the item; the caller skips or dead-letters it."""
        fields = {"loop": self.name, "item": item, "error": repr(error)}
        if isinstance(error, TRANSIENT) and self.outage is not None:
            self.outage.failed(f"{self.name}: {item}", error)
        elif isinstance(error, (*TRANSIENT, RedisError)):
            log.warning("%s: %s failed: %s", self.name, item, error, extra={"fields": fields})
        else:
            log.error("%s: %s failed", self.name, item, exc_info=error, extra={"fields": fields})

    def _report(self, error: Exception) -> None:
        fields = {"loop": self.name, "error": repr(error)}
        if isinstance(error, TRANSIENT) and self.outage is not None:
            self.outage.failed(self.name, error)
        elif isinstance(error, (*TRANSIENT, RedisError)):
            log.warning("%s: %s; trying again", self.name, error, extra={"fields": fields})
        else:
            log.error("%s failed; going on", self.name, exc_info=error, extra={"fields": fields})
