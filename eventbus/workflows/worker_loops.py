"""The loops of a workflow worker, each on the :class:`~eventbus.loops.Loop` base:

- **work reader**: reads the partitions' work streams (group ``workflow-workers``) and hands
  each entry to the worker;
- **timer mover**: moves due timers to their partition's work stream (any worker, each timer
  exactly once);
- **work claimer**: keeps the entries this worker holds from looking idle, takes over those
  another worker has held past ``claim_idle`` (a worker that died), then removes the consumers
  of dead workers once they hold nothing;
- **work trimmer**: removes the work entries the group is done with;
- **outbox publisher**: publishes status-change events on the ``default`` bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from eventbus import keys
from eventbus.bus import PartitionMap, ensure_groups, run_async
from eventbus.consumers import remove_consumers
from eventbus.loops.base import TRANSIENT, Loop
from eventbus.workflows.status_events import publish_outbox
from eventbus.workflows.store import move_due_timers, trim_work

__all__ = [
    "OutboxPublisher",
    "TimerMover",
    "WorkClaimer",
    "WorkReader",
    "WorkTrimmer",
    "ensure_work_groups",
]

log = logging.getLogger("eventbus.workflows")

PARTITIONS = range(keys.WORKFLOW_PARTITIONS)
# (partition, entry id, fields) handed to the worker.
Dispatch = Callable[[int, list[Any]], None]


async def ensure_work_groups(redis: Redis) -> None:
    streams = [keys.workflow_work(p) for p in PARTITIONS]
    await run_async(redis, ensure_groups(streams, keys.WORKFLOW_GROUP))


def _partition(stream: Any) -> int:
    name = stream.decode() if isinstance(stream, bytes) else str(stream)
    return int(name.split("{wf:p", 1)[1].split("}", 1)[0])


class WorkReader(Loop):
    """XREADGROUP on every partition, as many entries as the worker has room for."""

    name = "workflow work reader"

    def __init__(self, stop: asyncio.Event, redis: Redis, consumer: str, dispatch: Dispatch,
                 room: Callable[[], Awaitable[int]], *, block_ms: int, pause: float) -> None:
        super().__init__(stop, pause=pause)
        self.redis, self.consumer, self.dispatch = redis, consumer, dispatch
        self.room, self.block_ms = room, block_ms
        self.streams = {keys.workflow_work(p): ">" for p in PARTITIONS}
        self.prepared = False

    async def step(self) -> None:
        if not self.prepared:  # here, so that a Redis not up yet is waited for as any error
            await ensure_work_groups(self.redis)
            self.prepared = True
        # COUNT applies to each stream: the room is shared among them, so that a read hands
        # the worker about as many entries as it has room for, not 16 times as many (those
        # would queue for room, and each slot freed would walk that queue).
        count = -(-await self.room() // len(self.streams))
        reply: Any = await self.redis.xreadgroup(
            keys.WORKFLOW_GROUP, self.consumer, self.streams,  # type: ignore[arg-type]
            count=count, block=self.block_ms)
        self.reached_redis()
        for stream, entries in reply or []:
            self.dispatch(_partition(stream), entries)

    async def recover(self, error: Exception) -> None:
        if isinstance(error, ResponseError) and "NOGROUP" in str(error):
            await ensure_work_groups(self.redis)


class _Wakeable(Loop):
    """A polling loop that polls slowly while idle (``idle_every``) and is woken early by
    ``wake()`` when this process has just written what it polls for."""

    def __init__(self, stop: asyncio.Event, *, every: float, idle_every: float,
                 pause: float) -> None:
        super().__init__(stop, every=every, pause=pause)
        self.idle_every = max(idle_every, every)
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def nap(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), seconds)
        self._woken.clear()


class TimerMover(_Wakeable):
    """Sleeps until the first timer is due, at most ``idle_every``: a timer this process sets
    wakes it (``due``); one another worker sets is seen within ``idle_every`` (it normally
    moves its own)."""

    name = "workflow timer mover"

    def __init__(self, stop: asyncio.Event, redis: Redis, *, every: float, idle_every: float,
                 pause: float) -> None:
        super().__init__(stop, every=every, idle_every=idle_every, pause=pause)
        self.redis = redis
        self._next_ms: float = 0.0  # when the next round is planned (ms since the epoch)

    def due(self, at_ms: int) -> None:
        """A timer was set for ``at_ms``: wake up if it falls before the next round."""
        if at_ms < self._next_ms:
            self.wake()

    async def step(self) -> None:
        # Not a sign that Redis is back (reached_redis): the work reader alone says so, as a
        # call in flight on a pooled connection may still succeed while Redis shuts down.
        now_ms = time.time() * 1000
        _, first = await move_due_timers(self.redis, int(now_ms))
        wait_ms = self.idle_every * 1000 if first is None else first - now_ms
        self._next_ms = now_ms + min(max(wait_ms, self.every * 1000), self.idle_every * 1000)

    def interval(self) -> float:
        return max((self._next_ms - time.time() * 1000) / 1000, 0.0)


class WorkClaimer(Loop):
    """Every ``claim_idle / 3`` seconds: XCLAIM (JUSTID) what this worker holds, which resets its
    idle time (a slow task is not taken for a dead worker's), then XAUTOCLAIM what is idle, then
    removes the consumers idle ``consumer_idle`` with nothing pending that are not alive: a
    dead worker's, once its entries were claimed. Alive is a worker whose claimer ran within
    ``consumer_idle`` (``keys.WORKFLOW_WORKERS``): Redis before 7.2 counts a consumer idle from
    the last entry it was given, so a live worker on a quiet partition looks idle there.

    A Redis outage makes every entry look idle, those of live workers too: they could not
    refresh theirs meanwhile. Once Redis answers again, nothing is taken over before
    ``claim_idle`` has passed, time for every live worker to refresh what it holds (taking a
    live worker's task entry would call the task a second time)."""

    name = "workflow work claimer"
    waits_first = True

    def __init__(self, stop: asyncio.Event, redis: Redis, consumer: str, dispatch: Dispatch,
                 held: Callable[[int], set[Any]], *, claim_idle: float, consumer_idle: float,
                 batch: int, pause: float) -> None:
        super().__init__(stop, every=max(min(claim_idle / 3, 10.0), 0.05), pause=pause)
        self.redis, self.consumer, self.dispatch, self.held = redis, consumer, dispatch, held
        self.claim_idle, self.consumer_idle, self.batch = claim_idle, consumer_idle, batch
        self._outage = False  # Redis failed a round since the last one that reached it
        self._claim_from = 0.0  # the monotonic time before which nothing is taken over

    async def recover(self, error: Exception) -> None:
        self._outage = self._outage or isinstance(error, TRANSIENT)

    async def step(self) -> None:
        # Few round trips for all the partitions, whatever the load: a busy worker's event
        # loop resumes each await late, and a round of 32 awaited calls could outlast
        # claim_idle, letting the others take the entries this worker is still working on.
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in PARTITIONS:
                held = list(self.held(p))
                if held:
                    pipe.xclaim(keys.workflow_work(p), keys.WORKFLOW_GROUP, self.consumer, 0,
                                held, justid=True)
            await pipe.execute()
        if self._outage:
            await self.redis.xlen(keys.workflow_work(0))  # raises while Redis is still away
            self._outage = False
            self._claim_from = time.monotonic() + self.claim_idle
        if time.monotonic() >= self._claim_from:
            await self._claim()
        alive = await self._alive()
        streams = [(keys.workflow_work(p), keys.WORKFLOW_GROUP) for p in PARTITIONS]
        removed = await remove_consumers(self.redis, streams, idle=self.consumer_idle, keep=alive)
        for stream, name in removed:
            log.info("removed the idle workflow consumer %s", name,
                     extra={"fields": {"stream": stream, "consumer": name}})

    async def _alive(self) -> list[str]:
        """Say this worker is alive; the workers that said so within ``consumer_idle``."""
        seconds, micros = await self.redis.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.WORKFLOW_WORKERS, {self.consumer: now_ms})
            pipe.zremrangebyscore(keys.WORKFLOW_WORKERS, "-inf",
                                  now_ms - int(self.consumer_idle * 1000))
            pipe.zrange(keys.WORKFLOW_WORKERS, 0, -1)
            *_, members = await pipe.execute()
        return [m.decode() if isinstance(m, bytes) else str(m) for m in members]

    async def _claim(self) -> None:
        """XAUTOCLAIM every partition in one round trip; dispatch what is not held already."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in PARTITIONS:
                pipe.xautoclaim(keys.workflow_work(p), keys.WORKFLOW_GROUP, self.consumer,
                                int(self.claim_idle * 1000), start_id="0-0", count=self.batch)
            replies = await pipe.execute(raise_on_error=False)
        for p, reply in zip(PARTITIONS, replies, strict=True):
            if isinstance(reply, Exception):
                self._outage = self._outage or isinstance(reply, TRANSIENT)
                self.item_failed(f"claiming workflow partition {p}", reply)
                continue
            mine = self.held(p)
            entries = [e for e in reply[1] if e[0] is not None and e[0] not in mine]
            if entries:
                self.dispatch(p, entries)


class WorkTrimmer(Loop):
    """Removes the work entries every worker is done with (acknowledged ones stay in a stream
    until trimmed)."""

    name = "workflow work trimmer"
    waits_first = True

    def __init__(self, stop: asyncio.Event, redis: Redis, *, every: float, pause: float) -> None:
        super().__init__(stop, every=every, pause=pause)
        self.redis = redis

    async def step(self) -> None:
        await trim_work(self.redis, keys.WORKFLOW_GROUP)


class OutboxPublisher(_Wakeable):
    """Publishes every ``idle_every``, or ``every`` after this process queued a status
    change (``wake``)."""

    name = "workflow outbox publisher"

    def __init__(self, stop: asyncio.Event, redis: Redis, *, every: float, idle_every: float,
                 pause: float) -> None:
        super().__init__(stop, every=every, idle_every=idle_every, pause=pause)
        self.redis, self.partitions = redis, PartitionMap()
        self._busy = False

    def wake(self) -> None:
        self._busy = True
        super().wake()

    async def step(self) -> None:
        self._busy = False
        if await publish_outbox(self.redis, self.partitions):
            self._busy = True  # there may be more than one batch

    def interval(self) -> float:
        return self.every if self._busy else self.idle_every
