"""The router's upkeep loops: rule reloads, retention, liveness, metrics, and consumer cleanup."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from eventbus import bus as bus_ops
from eventbus import keys
from eventbus.consumers import remove_consumers
from eventbus.loops.base import TRANSIENT, Loop
from eventbus.loops.routing import Routing, RoutingLoop
from eventbus.metrics import FLUSH_INTERVAL_SECONDS, Metrics
from eventbus.rule_watch import RuleWatch

__all__ = [
    "ConsumerSweeper",
    "Heartbeat",
    "MetricsFlusher",
    "Reloader",
    "Trimmer",
    "memberships",
]

log = logging.getLogger("eventbus.worker")


class Reloader(Loop):
    """Reloads the rules when a rule file changes, or when asked (SIGHUP)."""

    name = "reloader"

    def __init__(
        self,
        stop: asyncio.Event,
        watch: RuleWatch,
        reload: Callable[[], Awaitable[bool]],
        *,
        every: float,
        pause: float,
    ) -> None:
        super().__init__(stop, every=every, pause=pause)
        self.watch, self.reload = watch, reload

    async def step(self) -> None:
        if self.watch.due():
            await self.reload()


class Trimmer(RoutingLoop):
    """Applies each bus's retention (:func:`eventbus.bus.trim`), bus by bus."""

    name = "trimmer"
    waits_first = True

    def __init__(self, stop: asyncio.Event, redis: Redis, *, every: float, pause: float) -> None:
        super().__init__(stop, every=every, pause=pause)
        self.redis = redis

    async def step(self) -> None:
        for name in list(self.routing.table.buses):
            try:
                await bus_ops.run_async(self.redis, bus_ops.trim(name))
            except TRANSIENT:
                raise
            except Exception as e:
                self.item_failed(f"trimming bus {name}", e)


class Heartbeat(Loop):
    """Tells the gateway's /healthz this router is alive (``eb:routers``)."""

    name = "heartbeat"

    def __init__(self, stop: asyncio.Event, redis: Redis, consumer: str, *, pause: float) -> None:
        from eventbus.gateway.health import HEARTBEAT_INTERVAL_SECONDS

        super().__init__(stop, every=HEARTBEAT_INTERVAL_SECONDS, pause=pause)
        self.redis, self.consumer = redis, consumer

    async def step(self) -> None:
        from eventbus.gateway.health import record_router_heartbeat

        await record_router_heartbeat(self.redis, self.consumer)
        self.reached_redis()


class MetricsFlusher(Loop):
    """Adds the counts kept in memory to Redis every second, less often while many series are
    being counted (:meth:`eventbus.metrics.Metrics.due`); an outage delays them, the next
    flush carries them."""

    name = "metrics flusher"

    def __init__(self, stop: asyncio.Event, metrics: Metrics, *, pause: float) -> None:
        super().__init__(stop, every=FLUSH_INTERVAL_SECONDS, pause=pause)
        self.metrics = metrics
        self.last = time.monotonic()

    async def step(self) -> None:
        if self.metrics.due(time.monotonic() - self.last):
            self.last = time.monotonic()
            await self.metrics.flush()


class ConsumerSweeper(RoutingLoop):
    """Removes the consumers, any router's, idle past ``idle`` seconds with nothing pending
    (:mod:`eventbus.consumers`), from every group the running rules read."""

    name = "consumer sweeper"
    waits_first = True

    def __init__(self, stop: asyncio.Event, redis: Redis, *, idle: float, pause: float) -> None:
        super().__init__(stop, every=max(min(idle / 4, 300.0), 0.05), pause=pause)
        self.redis, self.idle = redis, idle

    async def step(self) -> None:
        removed = await remove_consumers(self.redis, memberships(self.routing), idle=self.idle)
        for stream, name in removed:
            log.info("idle consumer removed", extra={"fields": {"stream": stream,
                                                                "consumer": name}})  # fmt: skip


def memberships(routing: Routing) -> list[tuple[str, str]]:
    """Every (stream, group) a router reads with ``routing``: bus partitions, delivery queues,
    and the firings of buses with schedule rules."""
    table = routing.table
    out = [(stream.decode(), keys.ROUTER_GROUP) for stream in table.streams]
    out += [(lane.queue, keys.DELIVERY_GROUP) for lane in routing.lanes.values()]
    scheduled = sorted({rule.bus for rule in table.ruleset.scheduled_rules()})
    out += [(keys.schedule_firings(bus), keys.SCHEDULER_GROUP) for bus in scheduled]
    return out
