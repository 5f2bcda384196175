"""The redis_list target: the payload pushed on the left or the right of exactly the named key."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from eventbus.errors import TargetError
from eventbus.router import Delivery
from eventbus.targets.base import TargetServices
from eventbus.targets.redis_list import RedisListConfig, RedisListTarget

from .conftest import make_ctx


@pytest.mark.parametrize(("push", "expected"), [("left", [b"2", b"1"]), ("right", [b"1", b"2"])])
async def test_pushes_payloads_on_the_chosen_side(
    push: str, expected: list[bytes], services: TargetServices, aredis: aioredis.Redis
) -> None:
    target = RedisListTarget(RedisListConfig.model_validate({"list": "q", "push": push}), services)
    await target.send("1", make_ctx())
    assert await target.send("2", make_ctx()) == {"list": "q", "length": 2}
    assert await aredis.lrange("q", 0, -1) == expected
    await target.aclose()
    await target.aclose()


async def test_default_is_lpush_so_a_brpop_worker_sees_fifo(
    services: TargetServices, aredis: aioredis.Redis
) -> None:
    target = RedisListTarget(RedisListConfig(list="jobs"), services)
    for payload in ("a", "b"):
        await target.send(payload, make_ctx())
    assert [(await aredis.brpop(["jobs"], timeout=1))[1] for _ in range(2)] == [b"a", b"b"]


async def test_key_of_another_type_is_a_permanent_error(
    services: TargetServices, aredis: aioredis.Redis
) -> None:
    await aredis.xadd("taken", {"a": "b"})
    with pytest.raises(TargetError) as err:
        await RedisListTarget(RedisListConfig(list="taken"), services).send("p", make_ctx())
    assert (err.value.retryable, err.value.code) == (False, "REDIS_ERROR")


async def test_a_batch_pushes_each_item_in_order(
    services: TargetServices, aredis: aioredis.Redis
) -> None:
    target = RedisListTarget(RedisListConfig(list="q", push="right"), services)
    results = await target.send_batch([(p, make_ctx()) for p in ("a", "b", "c")])
    assert [r["length"] for r in results] == [1, 2, 3]
    assert await aredis.lrange("q", 0, -1) == [b"a", b"b", b"c"]


def test_the_inline_command_is_the_push_on_the_bus_redis_only(services: TargetServices) -> None:
    delivery = Delivery("shop", "orders", "", "t1", "e1:shop:orders:t1", "e1", "{}", "p", 0, 0, "")
    target = RedisListTarget(RedisListConfig(list="q"), services)
    assert target.inline_command(delivery) == ["LPUSH", "q", "p"]
    elsewhere = RedisListConfig(list="q", redis_url="redis://elsewhere:6379/0")
    assert RedisListTarget(elsewhere, services).inline_command(delivery) is None


async def test_unreachable_redis_is_retryable(services: TargetServices) -> None:
    config = RedisListConfig(list="q", redis_url="redis://127.0.0.1:1/0")
    target = RedisListTarget(config, services)
    with pytest.raises(TargetError) as err:
        await target.send("p", make_ctx())
    assert err.value.retryable
    await target.aclose()
