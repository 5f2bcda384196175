"""The bus target: the event goes onto another bus with its hop count raised by one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from eventbus import keys
from eventbus.client import AsyncEventBusClient
from eventbus.errors import TargetError
from eventbus.targets.base import TargetServices
from eventbus.targets.event_bus import BusConfig, BusTarget

from .conftest import EVENT, make_ctx


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[AsyncEventBusClient]:
    c = AsyncEventBusClient.from_url(redis_url)
    yield c
    await c.close()


def bus_target(client: AsyncEventBusClient, **settings: Any) -> BusTarget:
    services = TargetServices(redis=None, publish=client.put_events)
    return BusTarget(BusConfig.model_validate({"bus_name": "audit", **settings}), services)


async def forwarded(aredis: aioredis.Redis) -> tuple[dict[str, Any], int]:
    [(_, fields)] = await aredis.xrange(keys.bus_stream("audit", 0))
    return orjson.loads(fields[b"event"]), int(fields[b"hops"])


async def test_the_whole_event_is_forwarded_with_one_more_hop(
    client: AsyncEventBusClient, aredis: aioredis.Redis
) -> None:
    target = bus_target(client)
    outcome = await target.send(orjson.dumps(EVENT).decode(), make_ctx(hops=2))
    event, hops = await forwarded(aredis)
    assert hops == 3
    assert (event["source"], event["detail-type"], event["detail"]) == (
        EVENT["source"],
        EVENT["detail-type"],
        EVENT["detail"],
    )
    assert event["time"] == EVENT["time"]
    assert outcome == {"bus": "audit", "event_id": event["id"]}


async def test_a_shaped_payload_becomes_the_detail(
    client: AsyncEventBusClient, aredis: aioredis.Redis
) -> None:
    target = bus_target(client, detail_type="Order Audited")
    await target.send('{"order": "o-42"}', make_ctx())
    event, hops = await forwarded(aredis)
    assert (event["source"], event["detail-type"]) == ("shop.orders", "Order Audited")
    assert (event["detail"], hops) == ({"order": "o-42"}, 1)


async def test_a_payload_that_is_not_an_object_is_wrapped(
    client: AsyncEventBusClient, aredis: aioredis.Redis
) -> None:
    await bus_target(client).send("order o-42 placed", make_ctx())
    event, _ = await forwarded(aredis)
    assert event["detail"] == {"payload": "order o-42 placed"}


async def test_an_entry_the_bus_refuses_is_permanent(client: AsyncEventBusClient) -> None:
    target = bus_target(client, source="aws.invalid")  # "aws." sources are reserved
    with pytest.raises(TargetError) as err:
        await target.send("{}", make_ctx())
    assert not err.value.retryable


async def test_a_payload_nested_too_deep_for_a_detail_is_refused_for_good(
    client: AsyncEventBusClient,
) -> None:
    payload = "[" * 300 + "]" * 300
    deep = '{"a": ' + payload + "}"
    with pytest.raises(TargetError) as err:
        await bus_target(client).send(deep, make_ctx())
    assert (err.value.retryable, err.value.code) == (False, "MalformedDetail")


def test_needs_the_publish_service() -> None:
    with pytest.raises(ValueError, match="publish"):
        BusTarget(BusConfig(bus_name="audit"), TargetServices(redis=None))
