"""Fixtures for the target tests: delivery contexts, services on the real test Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from eventbus.targets.base import DeliveryContext, TargetServices

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "Order Placed",
    "source": "shop.orders",
    "account": "000000000000",
    "time": "2024-05-01T12:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"id": "o-42", "customer": {"name": "Ada"}, "total": 12.5},
}


def make_ctx(
    *, event: dict[str, Any] | None = None, attempt: int = 1, hops: int = 0, target: str = "t1"
) -> DeliveryContext:
    """A delivery context as the worker builds it: bus ``shop``, rule ``orders``."""
    ev = event or EVENT
    return DeliveryContext(
        delivery_id=f"{ev['id']}:shop:orders:{target}",
        event_id=ev["id"],
        bus="shop",
        rule="orders",
        rule_arn="arn:aws:events:us-east-1:000000000000:rule/shop/orders",
        target_id=target,
        attempt=attempt,
        event=ev,
        hops=hops,
    )


@pytest.fixture
def ctx_factory() -> Callable[..., DeliveryContext]:
    return make_ctx


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def services(aredis: aioredis.Redis) -> TargetServices:
    return TargetServices(redis=aredis, target_id="t1", rule="orders", bus="shop")
