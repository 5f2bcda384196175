"""The redis_stream target: one entry per delivery with the contract's fields, exactly the key."""

from __future__ import annotations

import socket

import pytest
import redis.asyncio as aioredis

from eventbus.errors import TargetError, TargetTimeout
from eventbus.router import Delivery
from eventbus.targets.base import TargetServices
from eventbus.targets.redis_stream import RedisStreamConfig, RedisStreamTarget

from .conftest import EVENT, make_ctx


async def test_entry_carries_payload_and_delivery_fields(
    services: TargetServices, aredis: aioredis.Redis
) -> None:
    target = RedisStreamTarget(RedisStreamConfig(stream="orders:out"), services)
    await target.send('{"id":"o-42"}', make_ctx())
    [(_, fields)] = await aredis.xrange("orders:out")
    assert fields == {
        b"payload": b'{"id":"o-42"}',
        b"event-id": EVENT["id"].encode(),
        b"bus": b"shop",
        b"rule": b"orders",
        b"target": b"t1",
        b"delivery-id": f"{EVENT['id']}:shop:orders:t1".encode(),
    }
    await target.aclose()


async def test_writes_exactly_the_named_key(
    services: TargetServices, aredis: aioredis.Redis
) -> None:
    target = RedisStreamTarget(RedisStreamConfig(stream="{x}weird key"), services)
    await target.send("p", make_ctx())
    assert await aredis.keys("*") == [b"{x}weird key"]


async def test_redis_url_writes_to_another_redis(redis_url: str, services: TargetServices) -> None:
    other_db = redis_url.rsplit("/", 1)[0] + "/3"  # another database stands in for another Redis
    target = RedisStreamTarget(RedisStreamConfig(stream="s", redis_url=other_db), services)
    await target.send("p", make_ctx())
    await target.aclose()
    await target.aclose()
    check = aioredis.Redis.from_url(other_db)
    assert await check.xlen("s") == 1
    await check.aclose()


async def test_key_of_another_type_is_a_permanent_error(
    services: TargetServices, aredis: aioredis.Redis
) -> None:
    await aredis.set("taken", "string")
    target = RedisStreamTarget(RedisStreamConfig(stream="taken"), services)
    with pytest.raises(TargetError) as err:
        await target.send("p", make_ctx())
    assert not err.value.retryable


def test_config_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError, match="extra"):
        RedisStreamConfig.model_validate({"stream": "s", "streem": "t"})


async def test_a_batch_is_one_entry_per_item_and_a_refused_item_fails_alone(
    services: TargetServices, aredis: aioredis.Redis, redis_url: str
) -> None:
    await aredis.set("taken", "string")
    good = RedisStreamTarget(RedisStreamConfig(stream="out", max_len=100), services)
    ctxs = [make_ctx(target=f"t{i}") for i in range(3)]
    results = await good.send_batch([(f"p{i}", ctx) for i, ctx in enumerate(ctxs)])
    entries = await aredis.xrange("out")
    assert [r["id"] for r in results] == [e[0].decode() for e in entries]
    assert [e[1][b"payload"] for e in entries] == [b"p0", b"p1", b"p2"]
    bad = RedisStreamTarget(RedisStreamConfig(stream="taken"), services)
    [refused] = await bad.send_batch([("p", make_ctx())])
    assert isinstance(refused, TargetError) and not refused.retryable


def test_the_inline_command_is_the_same_entry_on_the_bus_redis_only(
    services: TargetServices,
) -> None:
    delivery = Delivery("shop", "orders", "", "t1", "e1:shop:orders:t1", "e1", "{}", "p", 0, 0, "")
    target = RedisStreamTarget(RedisStreamConfig(stream="out", max_len=5), services)
    assert target.inline_command(delivery) == [
        "XADD", "out", "MAXLEN", "~", 5, "*", "payload", "p", "event-id", "e1", "bus", "shop",
        "rule", "orders", "target", "t1", "delivery-id", "e1:shop:orders:t1",
    ]  # fmt: skip
    elsewhere = RedisStreamConfig(stream="out", redis_url="redis://elsewhere:6379/0")
    assert RedisStreamTarget(elsewhere, services).inline_command(delivery) is None


async def test_a_redis_that_never_answers_is_a_retryable_timeout(
    services: TargetServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eventbus.targets.redis_conn.ROUND_TRIP_TIMEOUT_SECONDS", 0.2)
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    target = RedisStreamTarget(RedisStreamConfig(stream="s", redis_url=url), services)
    try:
        with pytest.raises(TargetTimeout):
            await target.send("p", make_ctx())
    finally:
        await target.aclose()
        silent.close()
