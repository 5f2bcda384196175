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
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

try:
    import hiredis
except ImportError:  # redis[hiredis] is declared; without it the Python packer is used
    hiredis = None  # type: ignore[assignment]

__all__ = ["AutoPipelineRedis", "shared_autopipe", "use_hiredis_packing"]


_Command = tuple[tuple[Any, ...], dict[str, Any]]
# One caller's commands (arguments, options) and the future that gets their replies.
_Queued = tuple[list[_Command], "asyncio.Future[list[Any]]"]
# Connections kept between round trips beyond this many go back to the pool.
_KEPT_CONNECTIONS = 4


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
        # Connections taken from the pool once and kept for the next round trips: a pool
        # checkout and return cost about as much as the round trip's own work.
        self._kept: list[Connection] = []
        self._callbacks: dict[Any, Callable[..., Any] | None] = {}  # by command name

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
            self._loop, self._queued, self._kept = loop, [], []
        return loop

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        kept, self._kept = self._kept, []
        for connection in kept:
            await self.connection_pool.release(connection)
        await super().aclose(close_connection_pool)

    def _enqueue(self, commands: list[_Command]) -> asyncio.Future[list[Any]]:
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
        commands = [command for queued, _ in batch for command in queued]
        try:
            async with asyncio.timeout(self._flush_timeout):
                replies = await self._round_trip(commands)
        except BaseException as e:  # the round trip itself failed: every caller gets the error
            error = e if isinstance(e, Exception) else RedisConnectionError("Pipeline cancelled")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(e, Exception):
                raise
            return
        start = 0
        for queued, future in batch:
            end = start + len(queued)
            if not future.done():  # its caller may have given up (cancelled, deadline)
                future.set_result(replies[start:end])
            start = end

    async def _round_trip(self, commands: list[_Command]) -> list[Any]:
        """The replies to ``commands``, written at once on one connection; a command Redis
        refused has its error as its reply. redis-py's pipeline object would add, per command,
        more than the command costs here: a stack, state, transaction and script handling."""
        pool = self.connection_pool
        loop = self._loop
        if self._kept:
            connection = self._kept.pop()
            try:  # what a pool checkout checks: connected, and nothing unread on the socket
                await pool.ensure_connection(connection)
            except BaseException:
                await pool.release(connection)
                raise
        else:
            connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            if hiredis is not None:
                packed: Any = b"".join([_pack(args) for args, _ in commands])
            else:
                packed = connection.pack_commands([args for args, _ in commands])
            await connection.send_packed_command(packed, check_health=False)
            replies = [await self._reply(connection, args, options) for args, options in commands]
        except BaseException:
            # Replies may be left unread on the socket: it must not be used again as it is.
            await connection.disconnect(nowait=True)
            await pool.release(connection)
            raise
        if len(self._kept) < _KEPT_CONNECTIONS and loop is self._loop:
            self._kept.append(connection)
        else:
            await pool.release(connection)
        return replies

    async def _reply(
        self, connection: Connection, args: tuple[Any, ...], options: dict[str, Any]
    ) -> Any:
        if options:  # keys, NEVER_DECODE...: redis-py's own reading
            try:
                return await self.parse_response(connection, args[0], **options)
            except ResponseError as e:
                return e
        # The parser hands a refused command's error back as its reply, unraised.
        reply = await connection._parser.read_response()  # type: ignore[attr-defined]
        name = args[0]
        if name not in self._callbacks:
            self._callbacks[name] = self.response_callbacks.get(name)
        callback = self._callbacks[name]
        if callback is None or isinstance(reply, Exception):
            return reply
        return callback(reply)


def shared_autopipe(redis: Redis) -> AutoPipelineRedis:
    """An auto-pipelining client on ``redis``'s connection pool (``redis`` itself when it is
    one), the same for every caller of that pool: callers that come and go (one per request)
    share its round trips and its few kept connections instead of each keeping its own."""
    if isinstance(redis, AutoPipelineRedis):
        return redis
    pool = redis.connection_pool
    shared: AutoPipelineRedis | None = getattr(pool, "_eventbus_autopipe", None)
    if shared is None:
        shared = AutoPipelineRedis(connection_pool=pool)
        pool._eventbus_autopipe = shared  # type: ignore[attr-defined]
    return shared


def _pack(args: tuple[Any, ...]) -> bytes:
    """One command in Redis's protocol, by hiredis's C packer."""
    first = args[0]
    if isinstance(first, str) and " " in first:  # "CONFIG GET"-style names are split, as redis-py
        args = (*first.split(), *args[1:])
    return hiredis.pack_command(args)  # type: ignore[no-any-return]


def _hiredis_pack(self: Any, *args: Any) -> list[bytes]:
    """hiredis's C packer in place of redis-py's Python one (the router's hottest function)."""
    return [_pack(args)]


def use_hiredis_packing(pool: ConnectionPool) -> None:
    """Make ``pool``'s connections pack commands with hiredis, when it is installed."""
    if hiredis is None:
        return
    base = pool.connection_class
    name = f"Hiredis{base.__name__}"
    pool.connection_class = type(name, (base,), {"pack_command": _hiredis_pack})
