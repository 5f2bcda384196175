"""The loop that compresses archive segments and enforces retention, off the routing path."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from eventbus.archives.store import compact, enforce_retention
from eventbus.loops.routing import RoutingLoop

__all__ = ["ArchiveCompactor"]


class ArchiveCompactor(RoutingLoop):
    """Each round, every archive of the running rule set: full blocks compressed, a partial one
    once ``flush_after`` seconds old (so reads rarely see much raw), then retention."""

    name = "archive compactor"

    def __init__(
        self,
        stop: asyncio.Event,
        redis: Redis,
        *,
        every: float = 1.0,
        flush_after: float = 10.0,
        pause: float = 0.5,
    ) -> None:
        super().__init__(stop, every=every, pause=pause)
        self.redis = redis
        self.flush_after_ms = int(flush_after * 1000)

    async def step(self) -> None:
        for archive in self.routing.table.ruleset.archives.values():
            for p in range(archive.partitions):
                await compact(self.redis, archive, p, flush_after_ms=self.flush_after_ms)
            await enforce_retention(self.redis, archive)
            self.reached_redis()
