"""The Redis connection a Redis-backed target writes to, and how its failures map to errors."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from eventbus.autopipe import use_hiredis_packing
from eventbus.errors import TargetError, TargetRejected, TargetTimeout
from eventbus.targets.base import TargetServices

__all__ = ["ROUND_TRIP_TIMEOUT_SECONDS", "TargetRedis", "only_result", "run_commands"]

# How long a batch's round trip to a target's Redis may take before it counts as failed.
ROUND_TRIP_TIMEOUT_SECONDS = 10.0


class TargetRedis:
    """The bus's Redis (lent by the runtime), or a private client when the rule names another."""

    def __init__(self, url: str | None, services: TargetServices) -> None:
        self._own = url is not None
        self.client: Any = services.redis
        if url:
            # No per-reply socket timeout (it costs as much as parsing a reply): run_commands
            # bounds the whole round trip instead.
            self.client = aioredis.Redis.from_url(url, socket_timeout=None)
            use_hiredis_packing(self.client.connection_pool)

    async def aclose(self) -> None:
        # Only a private client is ours to close; the lent one outlives the target.
        client, self.client = self.client, None
        if self._own and client is not None:
            await client.aclose()


async def run_commands(client: Any, commands: Sequence[Sequence[Any]], what: str) -> list[Any]:
    """Each command's reply, or the ``TargetError`` its failure maps to, all in one round trip: a
    refused command (WRONGTYPE, ...) cannot succeed on a retry, connection trouble can."""
    try:
        async with asyncio.timeout(ROUND_TRIP_TIMEOUT_SECONDS):
            async with client.pipeline(transaction=False) as pipe:
                for args in commands:
                    pipe.execute_command(*args)
                replies = await pipe.execute(raise_on_error=False)
    except RedisError as e:
        return [TargetError(f"{what} failed: {e}", code="REDIS_ERROR")] * len(commands)
    except TimeoutError:
        late = TargetTimeout(f"{what}: no answer in {ROUND_TRIP_TIMEOUT_SECONDS:g} s")
        return [late] * len(commands)
    return [
        TargetRejected(f"{what} refused: {r}", code="REDIS_ERROR")
        if isinstance(r, ResponseError)
        else r
        for r in replies
    ]


def only_result(results: list[Any]) -> dict[str, Any] | None:
    """The result of a one-item ``send_batch``; raised when it is an error."""
    [result] = results
    if isinstance(result, Exception):
        raise result
    return cast("dict[str, Any] | None", result)
