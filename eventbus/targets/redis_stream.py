"""The ``redis_stream`` target: one stream entry per delivery, on the bus's Redis or another one.

Rule example::

    - id: orders-out
      type: redis_stream
      stream: orders:out          # exactly this key
      redis_url: redis://other:6379/0   # optional; default: the bus's Redis

Entry fields: ``payload`` (the input text), ``event-id``, ``bus``, ``rule``, ``target`` and
``delivery-id`` (``<event-id>:<bus>:<rule>:<target-id>``, the same across retries, so consumers
can drop the duplicates that at-least-once delivery allows).
"""

from __future__ import annotations

from typing import Any, ClassVar

import redis.asyncio as aioredis
from pydantic import Field
from redis.exceptions import RedisError, ResponseError

from eventbus.errors import TargetError, TargetRejected
from eventbus.targets.base import DeliveryContext, TargetConfig, TargetServices

__all__ = ["RedisStreamConfig", "RedisStreamTarget", "delivery_fields"]


class RedisStreamConfig(TargetConfig):
    stream: str = Field(min_length=1, description="the stream key, used exactly as given")
    redis_url: str | None = Field(
        default=None, description="another Redis to write to; default: the bus's Redis"
    )
    max_len: int | None = Field(
        default=None, gt=0, description="approximate MAXLEN trim of the stream on each XADD"
    )


def delivery_fields(payload: str, ctx: DeliveryContext) -> dict[str, str]:
    """The fields a queue-like target writes next to the payload (shared with ``redis_list``
    only through this function, so the two never drift)."""
    return {
        "payload": payload,
        "event-id": ctx.event_id,
        "bus": ctx.bus,
        "rule": ctx.rule,
        "target": ctx.target_id,
        "delivery-id": ctx.delivery_id,
    }


class RedisStreamTarget:
    """XADD one entry per delivery to ``stream``."""

    config_model: ClassVar[type[TargetConfig]] = RedisStreamConfig

    def __init__(self, config: RedisStreamConfig, services: TargetServices) -> None:
        self._config = config
        # A private connection only when the rule names another Redis; the bus's one is lent.
        self._own = config.redis_url is not None
        self._redis: Any = (
            aioredis.Redis.from_url(config.redis_url) if config.redis_url else services.redis
        )

    async def send(self, payload: str, ctx: DeliveryContext) -> dict[str, Any] | None:
        cfg = self._config
        try:
            entry_id = await self._redis.xadd(
                cfg.stream,
                delivery_fields(payload, ctx),
                maxlen=cfg.max_len,
                approximate=True,
            )
        except ResponseError as e:
            # WRONGTYPE and friends: the key is not a stream, retrying cannot help.
            raise TargetRejected(f"XADD to {cfg.stream!r} refused: {e}", code="REDIS_ERROR") from e
        except RedisError as e:
            raise TargetError(f"XADD to {cfg.stream!r} failed: {e}", code="REDIS_ERROR") from e
        return {"stream": cfg.stream, "id": _text(entry_id)}

    async def aclose(self) -> None:
        if self._own and self._redis is not None:
            redis, self._redis = self._redis, None
            await redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
