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

from collections.abc import Sequence
from typing import Any, ClassVar

from eventbus.router import Delivery
from eventbus.targets.base import DeliveryContext, TargetConfig, TargetServices
from eventbus.targets.configs import RedisStreamConfig
from eventbus.targets.redis_conn import TargetRedis, only_result, run_commands

__all__ = ["RedisStreamConfig", "RedisStreamTarget"]


class RedisStreamTarget:
    """XADD one entry per delivery to ``stream``."""

    config_model: ClassVar[type[TargetConfig]] = RedisStreamConfig

    def __init__(self, config: RedisStreamConfig, services: TargetServices) -> None:
        self._config = config
        self._redis = TargetRedis(config.redis_url, services)

    async def send(self, payload: str, ctx: DeliveryContext) -> dict[str, Any] | None:
        return only_result(await self.send_batch([(payload, ctx)]))

    async def send_batch(self, items: Sequence[tuple[str, DeliveryContext]]) -> list[Any]:
        """One XADD per item, all in one round trip."""
        commands = [
            self._xadd(payload, ctx.event_id, ctx.bus, ctx.rule, ctx.target_id, ctx.delivery_id)
            for payload, ctx in items
        ]
        stream = self._config.stream
        replies = await run_commands(self._redis.client, commands, f"XADD to {stream!r}")
        return [r if isinstance(r, Exception) else {"stream": stream, "id": _text(r)}
                for r in replies]  # fmt: skip

    def inline_command(self, delivery: Delivery) -> list[str | bytes | int] | None:
        """The XADD of ``delivery``, which the router runs while routing when the stream is on
        the bus's Redis (no ``redis_url``): a delivery without a trip through the queue."""
        d = delivery
        if self._config.redis_url is not None or d.payload is None:
            return None
        return self._xadd(d.payload, d.event_id, d.bus, d.rule, d.target_id, d.delivery_id)

    def _xadd(
        self, payload: str, event_id: str, bus: str, rule: str, target: str, delivery_id: str
    ) -> list[str | bytes | int]:
        cfg = self._config
        trim: list[str | bytes | int] = ["MAXLEN", "~", cfg.max_len] if cfg.max_len else []
        return ["XADD", cfg.stream, *trim, "*", "payload", payload, "event-id", event_id,
                "bus", bus, "rule", rule, "target", target, "delivery-id", delivery_id]  # fmt: skip

    async def aclose(self) -> None:
        await self._redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
