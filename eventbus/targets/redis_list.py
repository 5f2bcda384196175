"""The ``redis_list`` target: LPUSH or RPUSH of the payload, for list-draining workers.

Rule example::

    - id: jobs
      type: redis_list
      list: queue:orders        # exactly this key
      push: left                # LPUSH (default; a BRPOP worker sees FIFO order) or right (RPUSH)
      redis_url: redis://other:6379/0   # optional; default: the bus's Redis

Only the payload text is pushed, so RQ- or Celery-style consumers read their own message format
(shape it with ``input_transformer``); the delivery id is not in the item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from eventbus.router import Delivery
from eventbus.targets.base import DeliveryContext, TargetConfig, TargetServices
from eventbus.targets.configs import RedisListConfig
from eventbus.targets.redis_conn import TargetRedis, only_result, run_commands

__all__ = ["RedisListConfig", "RedisListTarget"]


class RedisListTarget:
    """Push each payload onto ``list``."""

    config_model: ClassVar[type[TargetConfig]] = RedisListConfig

    def __init__(self, config: RedisListConfig, services: TargetServices) -> None:
        self._key = config.list
        self._redis_url = config.redis_url
        self._command = "LPUSH" if config.push == "left" else "RPUSH"
        self._redis = TargetRedis(config.redis_url, services)

    async def send(self, payload: str, ctx: DeliveryContext) -> dict[str, Any] | None:
        return only_result(await self.send_batch([(payload, ctx)]))

    async def send_batch(self, items: Sequence[tuple[str, DeliveryContext]]) -> list[Any]:
        """One push per item, all in one round trip."""
        commands = [(self._command, self._key, payload) for payload, _ in items]
        what = f"{self._command} to {self._key!r}"
        replies = await run_commands(self._redis.client, commands, what)
        return [r if isinstance(r, Exception) else {"list": self._key, "length": r}
                for r in replies]  # fmt: skip

    def inline_command(self, delivery: Delivery) -> list[str | bytes | int] | None:
        """The push of ``delivery``, run by the router while routing when the list is on the
        bus's Redis (no ``redis_url``)."""
        if self._redis_url is not None or delivery.payload is None:
            return None
        return [self._command, self._key, delivery.payload]

    async def aclose(self) -> None:
        await self._redis.aclose()
