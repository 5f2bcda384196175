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
from eventbus.delivery import finish, move_due_retries
from eventbus.lanes import AckBuffer, Deliverer
from eventbus.loops.base import TRANSIENT
from eventbus.loops.routing import RoutingLoop

__all__ = ["QueueReader", "RetryMover"]


class QueueReader(RoutingLoop):
    """One XREADGROUP ``deliverers`` over the queues of every lane that has room, which also
    carries the acknowledgements of the deliveries finished since the last read; each entry is
    sent by its lane (:mod:`eventbus.lanes`), so a slow target fills only its own lane."""

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
    ) -> None:
        super().__init__(stop, pause=pause)
        self.redis, self.consumer, self.acks, self.deliverer = redis, consumer, acks, deliverer
        self.batch, self.block_ms = batch, block_ms
        self.on_missing_group = on_missing_group
        self.room = asyncio.Event()  # set by a lane when one of its deliveries is finished
        # Queues whose entries a lane failed to take (left pending), and when: the claimer
        # claims them until they are idle enough, instead of sweeping every queue.
        self.lapsed: dict[bytes, float] = {}

    async def step(self) -> None:
        lanes = [lane for lane in self.routing.lanes.values() if lane.wants_more()]
        if not lanes:
            await self._wait_for_room()
        acks = self.acks.take()
        streams = {lane.queue_bytes: b">" for lane in lanes}
        try:
            reply = await self._ack_and_read(acks, streams)
        except BaseException:
            self._restore_acks(acks)
            raise
        self.dispatch(reply or [])

    async def recover(self, error: Exception) -> None:
        if isinstance(error, ResponseError) and "NOGROUP" in str(error):
            await self.on_missing_group()

    async def _wait_for_room(self) -> None:
        self.room.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.room.wait(), self.block_ms / 1000)

    async def _ack_and_read(
        self, acks: dict[str, list[bytes]], streams: dict[bytes, bytes]
    ) -> list[Any] | None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue, ids in acks.items():
                finish(pipe, queue, ids)
            if streams:
                pipe.xreadgroup(
                    keys.DELIVERY_GROUP,
                    self.consumer,
                    streams,  # type: ignore[arg-type]
                    count=self.batch,
                    block=self.block_ms,
                )
            if not acks and not streams:
                return None
            replies = await pipe.execute()
        return replies[-1] if streams else None

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
    """Moves due retries back into their queues: one Lua script call per 100 lanes, and lane by
    lane when such a call fails, so one lane's broken keys hold back only its own retries."""

    name = "retry mover"

    def __init__(self, stop: asyncio.Event, redis: Redis, *, every: float, pause: float) -> None:
        super().__init__(stop, every=every, pause=pause)
        self.redis = redis

    async def step(self) -> None:
        pairs = [(lane.retries, lane.queue) for lane in self.routing.lanes.values()]
        now_ms = int(time.time() * 1000)
        try:
            await move_due_retries(self.redis, pairs, now_ms)
        except TRANSIENT:
            raise
        except Exception:  # one lane's keys (of another type, say) fail the whole call
            for pair in pairs:
                try:
                    await move_due_retries(self.redis, [pair], now_ms)
                except TRANSIENT:
                    raise
                except Exception as e:
                    self.item_failed(f"retries of {pair[1]}", e)
