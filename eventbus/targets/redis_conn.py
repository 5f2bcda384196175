"""The Redis connection a Redis-backed target writes to, and how its failures map to errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from eventbus.errors import TargetError, TargetRejected
from eventbus.targets.base import TargetServices

__all__ = ["TargetRedis", "redis_failures"]


class TargetRedis:
    """The bus's Redis (lent by the runtime), or a private client when the rule names another."""

    def __init__(self, url: str | None, services: TargetServices) -> None:
        self._own = url is not None
        self.client: Any = aioredis.Redis.from_url(url) if url else services.redis

    async def aclose(self) -> None:
        # Only a private client is ours to close; the lent one outlives the target.
        client, self.client = self.client, None
        if self._own and client is not None:
            await client.aclose()


@contextmanager
def redis_failures(what: str) -> Iterator[None]:
    """Map redis-py errors at the boundary: a refused command (WRONGTYPE, ...) cannot succeed on
    a retry; connection trouble can."""
    try:
        yield
    except ResponseError as e:
        raise TargetRejected(f"{what} refused: {e}", code="REDIS_ERROR") from e
    except RedisError as e:
        raise TargetError(f"{what} failed: {e}", code="REDIS_ERROR") from e
