"""The delivery side's loops: the queue reader hands queue entries to their lanes, the retry
mover puts due retries back in their queues."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from eventbus import keys
from eventbus.delivery import (
    claim_due_lanes,
    finish,
    index_retries,
    move_due_retries,
    settle_due_lanes,
    wake,
)
from eventbus.lanes import AckBuffer, Deliverer, Lane
from eventbus.loops.base import TRANSIENT
from eventbus.loops.routing import Routing, RoutingLoop

__all__ = ["SWEEP_SECONDS", "QueueReader", "RetryMover"]

# How often every queue is read and every retry set checked whatever the wake-ups and the due
# index say: the bound on how long a lost wake-up or due note can hold an entry back.
SWEEP_SECONDS = 30.0
# Wake-up entries read per stream per round.
WAKE_READ = 1000


class QueueReader(RoutingLoop):
    """Reads the queues it is told were written: one XREAD of the buses' wake-up streams
    (:func:`eventbus.keys.queue_wakes`) and one XREADGROUP ``deliverers`` over the woken queues
    of lanes with room, which also carry the acknowledgements of the deliveries finished since
    the last read; each entry is sent by its lane (:mod:`eventbus.lanes`), so a slow target fills
    only its own lane. A queue stays to be read until a read returns less than a batch. Every
    queue is read at start, after a failed round, on a rule reload and every ``sweep_every``
    seconds, so a write whose wake-up was lost (trimmed, or never written) waits that long at
    most; between those, idle queues cost nothing.

    A lane whose queue holds more than it can take waits while it is full; the reader meanwhile
    waits on the wake-ups (up to ``block_ms``). When a sender frees room in such a lane, or a
    lane runs out of work with acknowledgements waiting, the reader writes that queue's wake-up
    itself (:meth:`freed`), so the wait ends then: the lane is fed again at once, not after
    ``block_ms`` with its senders idle."""

    name = "queue reader"

    def __init__(
        self,
        stop: asyncio.Event,
        redis: Redis,
        consumer: str,
        acks: AckBuffer,
        deliverer: Deliverer,
        *,
        batch: int,
        block_ms: int,
        pause: float,
        on_missing_group: Callable[[], Awaitable[None]],
        sweep_every: float = SWEEP_SECONDS,
    ) -> None:
        super().__init__(stop, pause=pause)
        self.redis, self.consumer, self.acks, self.deliverer = redis, consumer, acks, deliverer
        self.batch, self.block_ms = batch, block_ms
        self.on_missing_group = on_missing_group
        self.sweep_every = sweep_every
        self.room = asyncio.Event()  # set by a lane when one of its deliveries is finished
        self.woken: set[bytes] = set()  # queues to read: written since this router last read them
        self.cursors: dict[bytes, bytes] = {}  # wake-up stream: the last entry id seen
        self._synced: Routing | None = None  # the rule set the sets above follow
        self._next_sweep = 0.0
        # Queues whose entries a lane failed to take (left pending), and when: the claimer
        # claims them until they are idle enough, instead of sweeping every queue.
        self.lapsed: dict[bytes, float] = {}
        self._waiting = False  # in a blocking read of the wake-ups
        self._nudge: asyncio.Task[None] | None = None  # the wake-up that ends it, being written

    async def step(self) -> None:
        await self._sync()
        if not self.routing.lanes:
            await self._wait_for_room()
        # Only the woken queues are looked at: a round costs nothing per idle lane.
        by_queue = self.routing.by_queue
        streams = {queue: b">" for queue in self.woken
                   if (lane := by_queue.get(queue)) is not None and lane.wants_more()}  # fmt: skip
        # Nothing to read now: wait for wake-ups (a full lane's room is seen at the next round).
        block = max(self.block_ms, 1) if self.cursors and not streams else None  # 0: forever
        acks = self.acks.take()
        self._waiting = block is not None
        try:
            wakes, reply = await self._ack_and_read(acks, streams, block)
        except BaseException:
            self._restore_acks(acks)
            raise
        finally:
            self._waiting = False
        # The wake-ups were read before the queues, so they name writes those reads saw.
        for _stream, entries in wakes or []:
            for entry_id, fields in entries:
                self.cursors[_stream] = entry_id
                self.woken.update(name for name in fields if name in self.routing.by_queue)
        full = {stream for stream, entries in reply or [] if len(entries) >= self.batch}
        self.woken.difference_update(streams.keys() - full)
        self.dispatch(reply or [])

    def freed(self, lane: Lane) -> None:
        """A lane finished deliveries (its ``on_free``). While the reader waits on the wake-ups,
        end the wait if the lane has room for more of a queue known to hold more, or if it is
        idle and acknowledgements wait: one wake-up for the queue, written once per wait."""
        self.room.set()
        if not self._waiting or self._nudge is not None:
            return
        more = lane.queue_bytes in self.woken and lane.wants_more()
        if more or (not lane.held and self.acks.pending):
            self._nudge = asyncio.create_task(self._wake(lane))

    async def _wake(self, lane: Lane) -> None:
        try:
            await wake(self.redis, lane.bus_rules.name, [lane.queue])
        except Exception as e:  # the wait ends at its timeout instead
            self.item_failed(f"wake-up of {lane.queue}", e)
        finally:
            self._nudge = None

    async def recover(self, error: Exception) -> None:
        self._synced = None  # read every queue again: a failed round may have lost wake-ups
        if isinstance(error, ResponseError) and "NOGROUP" in str(error):
            await self.on_missing_group()

    async def _sync(self) -> None:
        """Follow the running rules: a wake-up stream per bus, from its present end; and read
        every queue once, when the rules (or the sweep period) are new."""
        routing, now = self.routing, time.monotonic()
        if routing is self._synced and now < self._next_sweep:
            return
        buses = {lane.bus_rules.name for lane in routing.lanes.values()}
        streams = {keys.queue_wakes(bus).encode() for bus in buses}
        new = sorted(streams - self.cursors.keys())
        if new:
            async with self.redis.pipeline(transaction=False) as pipe:
                for stream in new:
                    pipe.xrevrange(stream, count=1)
                lasts = await pipe.execute()
            for stream, last in zip(new, lasts, strict=True):
                self.cursors[stream] = last[0][0] if last else b"0-0"
        self.cursors = {s: c for s, c in self.cursors.items() if s in streams}
        self.woken = set(routing.by_queue)  # after the cursors: later writes are woken
        self._synced, self._next_sweep = routing, now + self.sweep_every

    async def _wait_for_room(self) -> None:
        self.room.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.room.wait(), self.block_ms / 1000)

    async def _ack_and_read(
        self, acks: dict[str, list[bytes]], streams: dict[bytes, bytes], block: int | None
    ) -> tuple[list[Any] | None, list[Any] | None]:
        """Send the acknowledgements, read the wake-ups (blocking ``block`` ms, if given), then
        read ``streams``: (wake-ups, entries)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue, ids in acks.items():
                finish(pipe, queue, ids)
            if self.cursors:
                pipe.xread(self.cursors, count=WAKE_READ, block=block)  # type: ignore[arg-type]
            if streams:
                pipe.xreadgroup(
                    keys.DELIVERY_GROUP,
                    self.consumer,
                    streams,  # type: ignore[arg-type]
                    count=self.batch,
                )
            if not acks and not self.cursors and not streams:
                return None, None
            replies = await pipe.execute()
        reply = replies[-1] if streams else None
        wakes = replies[-2 if streams else -1] if self.cursors else None
        return wakes, reply

    def _restore_acks(self, acks: dict[str, list[bytes]]) -> None:
        for queue, ids in acks.items():
            for entry_id in ids:
                self.acks.add(queue, entry_id)

    def dispatch(self, reply: Iterable[Any]) -> None:
        """Hand read (or claimed) queue entries to their lanes. A lane that fails to take them
        leaves them pending: they are claimed again once idle."""
        for stream, entries in reply:
            lane = self.routing.by_queue.get(stream)
            if lane is None:
                continue
            todo = []
            for entry_id, fields in entries:
                if entry_id is None:
                    continue
                if not fields:  # deleted from the queue after it was read: nothing to send
                    self.acks.add(lane.queue, entry_id)
                    continue
                todo.append((entry_id, fields))
            try:
                lane.start(todo, self.deliverer)
            except Exception as e:
                self.item_failed(f"queue {lane.queue} entries {[i for i, _ in todo]}", e)
                self.lapsed[stream] = time.monotonic()


class RetryMover(RoutingLoop):
    """Moves due retries back into their queues. Each round asks each bus's due index
    (:func:`eventbus.keys.retry_due`) which lanes have retries due, so an idle round is one
    script call per bus however many lanes there are; the due lanes' retries move in one script
    call each (their own slot), lane by lane, so one lane's broken keys hold back only its own.
    Every ``sweep_every`` seconds (and at start) it checks every lane's retry set and indexes
    those the index lacks: a due time whose note was lost waits that long at most."""

    name = "retry mover"

    def __init__(
        self,
        stop: asyncio.Event,
        redis: Redis,
        *,
        every: float,
        pause: float,
        sweep_every: float = SWEEP_SECONDS,
    ) -> None:
        super().__init__(stop, every=every, pause=pause)
        self.redis = redis
        self.sweep_every = sweep_every
        self._next_sweep = 0.0
        self._buses_of: Routing | None = None
        self._bus_names: list[str] = []

    async def step(self) -> None:
        if time.monotonic() >= self._next_sweep:
            lanes = list(self.routing.lanes.values())
            await index_retries(self.redis, [(lane.bus_rules.name, lane.retries, lane.queue)
                                             for lane in lanes])  # fmt: skip
            self._next_sweep = time.monotonic() + self.sweep_every
        now_ms = int(time.time() * 1000)
        lease, due = await claim_due_lanes(self.redis, self._buses(), now_ms)
        for bus, queues in due.items():
            await self._move(bus, queues, lease, now_ms)

    def _buses(self) -> list[str]:
        """The running rules' buses, worked out once per rule set (not per round)."""
        if self._buses_of is not self.routing:
            self._bus_names = sorted({lane.bus_rules.name for lane in self.routing.lanes.values()})
            self._buses_of = self.routing
        return self._bus_names

    async def _move(self, bus: str, queues: list[str], lease: str, now_ms: int) -> None:
        lanes = [self.routing.by_queue.get(queue.encode()) for queue in queues]
        # A lane the running rules lack leaves the index (settled with nothing left); a router
        # that has it puts it back at its next full check.
        settled: list[tuple[str, str, int]] = [
            (queue, "", 0) for queue, lane in zip(queues, lanes, strict=True) if lane is None
        ]
        known = [lane for lane in lanes if lane is not None]
        pairs = [(lane.retries, lane.queue) for lane in known]
        results = await move_due_retries(self.redis, pairs, now_ms)
        for lane, result in zip(known, results, strict=True):
            if isinstance(result, TRANSIENT):
                raise result
            if isinstance(result, Exception):  # its keys are of another type, say: its lease
                self.item_failed(f"retries of {lane.queue}", result)  # runs out, then again
                continue
            moved, next_due = result
            settled.append((lane.queue, next_due, moved))
        await settle_due_lanes(self.redis, bus, lease, settled)
