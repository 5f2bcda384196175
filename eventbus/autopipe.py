"""A Redis client that pipelines on its own: commands issued in the same loop iteration by many
concurrent deliveries go to Redis in one round trip.

Targets call ``await redis.xadd(...)`` once per delivery; with dozens of deliveries in flight
per lane, one round trip and one connection per command would cost more than the work itself.
This client queues each command with a future, flushes the queue as one pipeline at the next
loop iteration, and hands each caller its own reply (or its own error); ``execute_many`` queues
a caller's whole batch of commands at once. Never use it for blocking commands (XREADGROUP
BLOCK, BLPOP...): they would hold up the whole batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError

try:
    import hiredis
except ImportError:  # redis[hiredis] is declared; without it the Python packer is used
    hiredis = None  # type: ignore[assignment]

__all__ = ["AutoPipelineRedis", "use_hiredis_packing"]


# One caller's commands (arguments, options) and the future that gets their replies.
_Queued = tuple[list[tuple[tuple[Any, ...], dict[str, Any]]], "asyncio.Future[list[Any]]"]


class AutoPipelineRedis(Redis):
    """``redis.asyncio.Redis`` whose commands are batched per event-loop iteration.

    ``flush_timeout`` bounds each shared round trip (None: no bound), so that a Redis that
    stops answering cannot hold a connection for ever once its callers have given up.
    """

    def __init__(self, *args: Any, flush_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._flush_timeout = flush_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queued: list[_Queued] = []
        self._flushing: set[asyncio.Task[None]] = set()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        (reply,) = await self._enqueue([(args, options)])
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def execute_many(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """The replies to ``commands``, sent in this loop iteration's shared round trip, in order;
        a command Redis refused has its error as its reply, a failed round trip raises."""
        return await self._enqueue([(args, {}) for args in commands])

    def adopt_running_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, made this client's: when it is a new one (``asyncio.run`` called
        again), the previous loop's queue and pooled connections are dropped, as they can never
        be flushed or closed (their sockets close when collected)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._loop is not None:
                self.connection_pool.reset()  # type: ignore[no-untyped-call]
            self._loop, self._queued = loop, []
        return loop

    def _enqueue(
        self, commands: list[tuple[tuple[Any, ...], dict[str, Any]]]
    ) -> asyncio.Future[list[Any]]:
        loop = self.adopt_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        if not self._queued:
            # The flush starts at the next loop iteration: the commands of every caller that
            # runs before then go in the same round trip.
            task = loop.create_task(self._flush())
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)
        self._queued.append((commands, future))
        return future

    async def _flush(self) -> None:
        batch, self._queued = self._queued, []
        try:
            async with (
                asyncio.timeout(self._flush_timeout),
                self.pipeline(transaction=False) as pipe,
            ):
                for commands, _ in batch:
                    for args, options in commands:
                        pipe.execute_command(*args, **options)
                replies = await pipe.execute(raise_on_error=False)
        except BaseException as e:  # the round trip itself failed: every caller gets the error
            error = e if isinstance(e, Exception) else RedisConnectionError("Pipeline cancelled")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(e, Exception):
                raise
            return
        start = 0
        for commands, future in batch:
            end = start + len(commands)
            if not future.done():  # its caller may have given up (cancelled, deadline)
                future.set_result(replies[start:end])
            start = end


def _hiredis_pack(self: Any, *args: Any) -> list[bytes]:
    """hiredis's C packer in place of redis-py's Python one (the router's hottest function)."""
    first = args[0]
    if isinstance(first, str) and " " in first:  # "CONFIG GET"-style names are split, as redis-py
        args = (*first.split(), *args[1:])
    return [hiredis.pack_command(args)]


def use_hiredis_packing(pool: ConnectionPool) -> None:
    """Make ``pool``'s connections pack commands with hiredis, when it is installed."""
    if hiredis is None:
        return
    base = pool.connection_class
    name = f"Hiredis{base.__name__}"
    pool.connection_class = type(name, (base,), {"pack_command": _hiredis_pack})
