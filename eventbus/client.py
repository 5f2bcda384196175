"""Python clients for publishing: ``EventBusClient`` (blocking) and ``AsyncEventBusClient``.

Both speak PutEvents::

    with EventBusClient.from_env() as client:   # or .from_url("redis://localhost:6379/0")
        client.put_events([{"Source": "shop", "DetailType": "OrderPlaced", "Detail": '{"id": 1}'}])
    → {"FailedEntryCount": 0, "Entries": [{"EventId": "…"}]}

Their logic lives once, in :func:`eventbus.bus.publish`; each client only runs it on its kind of
Redis connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Self

import redis
import redis.asyncio

from eventbus import bus
from eventbus.autopipe import AutoPipelineRedis, use_hiredis_packing
from eventbus.connection import connect, connect_async, resolve_redis_url
from eventbus.errors import BusTimeout
from eventbus.settings import Settings

__all__ = ["DEFAULT_TIMEOUT", "AsyncEventBusClient", "EventBusClient"]

# The asyncio client's deadline for a whole put_events call, in seconds.
DEFAULT_TIMEOUT = 5.0


class _Publisher:
    """What both clients share: the partition map and how a PutEvents call is planned."""

    def __init__(self, settings: Settings | None) -> None:
        self._settings = settings
        self._partitions = bus.PartitionMap()

    def _publish(
        self, entries: Sequence[Mapping[str, Any]], hops: int
    ) -> bus.Steps[dict[str, Any]]:
        return bus.publish(entries, self._partitions, hops=hops, settings=self._settings)


class EventBusClient(_Publisher):
    """Publishes events to the buses of one Redis.

    Built on a redis-py client it is given (and then does not close), or ``from_url``.
    """

    def __init__(
        self, redis_client: redis.Redis, *, settings: Settings | None = None, owned: bool = False
    ) -> None:
        super().__init__(settings)
        self._redis = redis_client
        self._owned = owned

    @classmethod
    def from_url(cls, url: str, *, settings: Settings | None = None) -> Self:
        return cls(connect(url), settings=settings, owned=True)

    @classmethod
    def from_env(cls, *, settings: Settings | None = None) -> Self:
        """On the Redis the CLI would use: ``$EVENTBUS_REDIS_URL``, else the embedded default
        in ./.eventbus/ (started when it is not running)."""
        return cls.from_url(resolve_redis_url(None), settings=settings)

    def put_events(self, entries: Sequence[Mapping[str, Any]], *, hops: int = 0) -> dict[str, Any]:
        """PutEvents: the valid entries are written in one round trip; the result lists an
        ``EventId`` or an ``ErrorCode``/``ErrorMessage`` per entry, in request order.
        ``hops`` counts how many buses the events already went through (loop detection).
        ``BusError`` when Redis cannot be reached."""
        return bus.run(self._redis, self._publish(entries, hops))

    def close(self) -> None:
        if self._owned:
            self._redis.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncEventBusClient(_Publisher):
    """The asyncio twin of :class:`EventBusClient`.

    Concurrent ``put_events`` calls share round trips: the writes of every call made in one
    event-loop iteration go to Redis in one pipeline (:class:`~eventbus.autopipe.AutoPipelineRedis`
    on the given client's connection pool), and each call gets its own answers. Each call has
    one deadline, ``timeout`` seconds, after which it raises :class:`~eventbus.errors.BusTimeout`.
    """

    def __init__(
        self,
        redis_client: redis.asyncio.Redis,
        *,
        settings: Settings | None = None,
        owned: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        super().__init__(settings)
        self._given = redis_client
        self._owned = owned
        self._timeout = timeout
        self._redis = (
            redis_client
            if isinstance(redis_client, AutoPipelineRedis)
            else AutoPipelineRedis(
                connection_pool=redis_client.connection_pool, flush_timeout=timeout
            )
        )

    @classmethod
    def from_url(
        cls, url: str, *, settings: Settings | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> Self:
        # The call's deadline guards against a Redis that stops answering; redis-py's socket
        # timeout would do it again per read and write, at the cost of a task per write.
        redis_client = connect_async(url, socket_timeout=None)
        use_hiredis_packing(redis_client.connection_pool)
        return cls(redis_client, settings=settings, owned=True, timeout=timeout)

    @classmethod
    def from_env(cls, *, settings: Settings | None = None) -> Self:
        """See :meth:`EventBusClient.from_env`."""
        return cls.from_url(resolve_redis_url(None), settings=settings)

    async def put_events(
        self, entries: Sequence[Mapping[str, Any]], *, hops: int = 0
    ) -> dict[str, Any]:
        """See :meth:`EventBusClient.put_events`; :class:`~eventbus.errors.BusTimeout` when
        Redis has not answered the whole call within ``timeout`` seconds."""
        steps = self._publish(entries, hops)
        try:
            async with asyncio.timeout(self._timeout):
                return await bus.run_async(self._redis, steps)
        except TimeoutError as e:
            raise BusTimeout(
                f"Redis did not answer within {self._timeout:g} s; some entries may have been "
                "stored: resend them all, with IdempotencyKeys to avoid duplicates"
            ) from e

    async def close(self) -> None:
        if self._owned:
            self._redis.adopt_running_loop()  # closing from a later event loop than the last call
            await self._given.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
