"""The scheduler loop: fires the running rule set's schedule rules (:mod:`eventbus.scheduler`)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from eventbus.loops.routing import RoutingLoop
from eventbus.scheduler import Clock, Scheduler, SystemClock
from eventbus.settings import Settings

__all__ = ["SchedulerLoop"]


class SchedulerLoop(RoutingLoop):
    """Ticks the scheduler when something is due, on its clock. A rule that fails to plan is
    skipped (and logged with its name) by the scheduler itself; the others keep firing."""

    name = "scheduler"

    def __init__(
        self,
        stop: asyncio.Event,
        redis: Redis,
        consumer: str,
        settings: Settings,
        *,
        clock: Clock | None,
        claim_idle: float,
        pause: float,
    ) -> None:
        super().__init__(stop, pause=pause)
        self.clock = clock or SystemClock()
        self.scheduler = Scheduler(redis, lambda: self.routing.table.ruleset, clock=self.clock,
                                   consumer=consumer, settings=settings,
                                   claim_idle=claim_idle)  # fmt: skip

    async def step(self) -> None:
        await self.scheduler.tick()

    def interval(self) -> float:
        return self.scheduler.delay()

    async def nap(self, seconds: float) -> None:
        await self.clock.sleep(seconds)
