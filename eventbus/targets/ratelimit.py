"""An invocation rate limit per target, shared by every router through Redis.

Each send reserves the next free slot in a per-target schedule kept in one Redis key (a GCRA
"theoretical arrival time" with no burst): slots are ``1/rate`` seconds apart, so any one-second
window sees at most ``rate + 1`` invocations however many routers send. Redis's own clock
(``TIME``) is used, so routers on machines with skewed clocks still agree.

The key (``keys.rate_limit``: ``eb:ratelimit:{<bus>/<rule>/<target>}``, see
``docs/redis-layout.md``) holds the µs timestamp of the next free slot and expires once that slot
has passed, so there is nothing to clean up.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from redis.exceptions import RedisError

from eventbus.errors import TargetError

__all__ = ["RateLimiter"]

# Reserve the next slot if it is at most ARGV[2] µs away; reply with the wait in µs, or with
# minus the wait when it is further away (nothing reserved then).
_RESERVE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > tonumber(ARGV[2]) then return -wait end
local next_slot = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_slot),
           'PX', math.ceil((next_slot - now) / 1000) + 1000)
return wait
"""


class RateLimiter:
    """At most ``per_second`` invocations per second for one target, across all routers."""

    def __init__(self, redis: Any, key: str, per_second: float, *, max_wait: float) -> None:
        self._script = redis.register_script(_RESERVE)
        self._key = key
        self._interval_us = round(1_000_000 / per_second)
        self._max_wait_us = round(max_wait * 1_000_000)

    async def acquire(self) -> None:
        """Wait for this invocation's slot; a slot further than ``max_wait`` away raises a
        retryable ``THROTTLED`` error whose ``retry_after`` says when to come back."""
        try:
            wait_us = int(await self._script(keys=[self._key], args=self._args()))
        except RedisError as e:
            raise TargetError(f"rate limiter unavailable: {e}", code="REDIS_ERROR") from e
        if wait_us < 0:
            raise TargetError(
                "invocation rate limit reached", code="THROTTLED", retry_after=-wait_us / 1e6
            )
        if wait_us:
            await asyncio.sleep(wait_us / 1e6)

    def _args(self) -> list[int]:
        return [self._interval_us, self._max_wait_us]
