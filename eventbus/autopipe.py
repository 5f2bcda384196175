"""A Redis client that pipelines on its own: commands issued in the same loop iteration by many
concurrent deliveries go to Redis in one round trip.

Targets call ``await redis.xadd(...)`` once per delivery; with dozens of deliveries in flight
per lane, one round trip and one connection per command would cost more than the work itself.
This client queues each command with a future, flushes the queue as one pipeline at the next
loop iteration, and hands each caller its own reply (or its own error). Never use it for
blocking commands (XREADGROUP BLOCK, BLPOP...): they would hold up the whole batch.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import ConnectionPool, Redis

try:
    import hiredis
except ImportError:  # redis[hiredis] is declared; without it the Python packer is used
    hiredis = None  # type: ignore[assignment]

__all__ = ["AutoPipelineRedis", "use_hiredis_packing"]


class AutoPipelineRedis(Redis):
    """``redis.asyncio.Redis`` whose commands are batched per event-loop iteration."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]] = []
        self._flushing: set[asyncio.Task[None]] = set()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self._queued:
            asyncio.get_running_loop().call_soon(self._start_flush)
        self._queued.append((args, options, future))
        return await future

    def _start_flush(self) -> None:
        batch, self._queued = self._queued, []
        task = asyncio.create_task(self._flush(batch))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(
        self, batch: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[Any]]]
    ) -> None:
        try:
            async with self.pipeline(transaction=False) as pipe:
                for args, options, _ in batch:
                    pipe.execute_command(*args, **options)
                replies = await pipe.execute(raise_on_error=False)
        except BaseException as e:  # the round trip itself failed: every caller gets the error
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(e if isinstance(e, Exception) else ConnectionError())
            if not isinstance(e, Exception):
                raise
            return
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)


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
