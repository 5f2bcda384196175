"""Router heartbeats: each router says it is alive; ``GET /healthz`` checks someone did lately.

Routers write their id and the time into the sorted set ``eb:routers`` (score = Unix seconds)
every few seconds; the gateway counts members seen within ``ROUTER_STALE_SECONDS``.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from eventbus import keys

__all__ = [
    "HEARTBEAT_INTERVAL_SECONDS",
    "ROUTER_STALE_SECONDS",
    "live_routers",
    "record_router_heartbeat",
]

HEARTBEAT_INTERVAL_SECONDS = 5.0
# Three missed heartbeats and a router no longer counts as alive.
ROUTER_STALE_SECONDS = 3 * HEARTBEAT_INTERVAL_SECONDS
# Routers gone this long are removed from the set, so it does not grow with every restart.
_FORGET_SECONDS = 24 * 3600


async def record_router_heartbeat(redis: Redis, router_id: str, now: float | None = None) -> None:
    """Mark ``router_id`` alive at ``now`` (default: the current time)."""
    moment = time.time() if now is None else now
    pipe = redis.pipeline(transaction=False)
    pipe.zadd(keys.ROUTERS, {router_id: moment})
    pipe.zremrangebyscore(keys.ROUTERS, "-inf", moment - _FORGET_SECONDS)
    await pipe.execute()


async def live_routers(
    redis: Redis, *, within: float = ROUTER_STALE_SECONDS, now: float | None = None
) -> list[str]:
    """The routers that sent a heartbeat in the last ``within`` seconds, sorted."""
    moment = time.time() if now is None else now
    members = await redis.zrangebyscore(keys.ROUTERS, moment - within, "+inf")
    return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
