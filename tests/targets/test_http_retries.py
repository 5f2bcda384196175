"""The http target inside a running router on a real Redis: a trickling endpoint is retried by the
rule's policy once each attempt's deadline passes, and a header value HTTP cannot carry is
dead-lettered on the first attempt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from eventbus import keys
from eventbus.client import AsyncEventBusClient
from eventbus.worker import Router, RouterOptions

from .conftest import HttpServer, Reply

RULES = """bus: default
bus_config: {retry_backoff_base_seconds: 0.01, retry_backoff_cap_seconds: 0.05}
rules:
  - name: orders
    event_pattern: {source: [shop]}
    targets:
      - TARGET
"""


@asynccontextmanager
async def router_with(target: str, redis_url: str, rules_dir: Path) -> AsyncIterator[None]:
    (rules_dir / "rules.yaml").write_text(RULES.replace("TARGET", target))
    redis = aioredis.Redis.from_url(redis_url)
    router = Router(redis, rules_dir, RouterOptions(block_ms=20, retry_poll=0.02))
    await router.start()
    running = asyncio.create_task(router.run())
    try:
        yield
    finally:
        router.stop()
        await running
        await redis.aclose()


async def put(redis_url: str, detail: dict[str, str]) -> None:
    async with AsyncEventBusClient.from_url(redis_url) as client:
        entry = {"Source": "shop", "DetailType": "T", "Detail": orjson.dumps(detail).decode()}
        result = await client.put_events([entry])
    assert result["FailedEntryCount"] == 0


async def dead_letter(aredis: aioredis.Redis) -> dict[str, str]:
    """The first dead letter, once there is one (the test's timeout bounds the wait)."""
    while not (entries := await aredis.xrange(keys.bus_dead_letters("default"))):
        await asyncio.sleep(0.05)
    return {k.decode(): v.decode() for k, v in entries[0][1].items()}


@pytest.mark.timeout(60)
async def test_a_trickling_endpoint_is_retried_by_the_policy_then_dead_lettered(
    redis_url: str, http_server: HttpServer, tmp_path: Path, aredis: aioredis.Redis
) -> None:
    # Given an endpoint that answers 200 and then sends its body a byte every 0.2 s
    http_server.answer("/drip", Reply(body=b"x" * 50, drip=0.2))
    target = (
        f"{{id: api, type: http, url: '{http_server.url}/drip', timeout_seconds: 0.5,"
        " retry_policy: {maximum_retry_attempts: 1}}"
    )
    async with router_with(target, redis_url, tmp_path):
        # When an event is delivered to it
        await put(redis_url, {"n": "1"})
        letter = await dead_letter(aredis)
    # Then each attempt ends at its deadline, and the policy (one retry) decides the rest
    assert (letter["error-code"], letter["attempts"]) == ("TIMEOUT", "2")
    assert letter["exhausted-retry-condition"] == "MaximumRetryAttempts"
    assert len(http_server.requests("/drip")) == 2


@pytest.mark.timeout(60)
async def test_a_header_value_from_the_event_that_http_cannot_carry_is_not_retried(
    redis_url: str, http_server: HttpServer, tmp_path: Path, aredis: aioredis.Redis
) -> None:
    target = (
        f"{{id: api, type: http, url: '{http_server.url}/x', headers: {{X-Name: $.detail.name}}}}"
    )
    async with router_with(target, redis_url, tmp_path):
        await put(redis_url, {"name": "Ada\r\nX-Admin: true"})
        letter = await dead_letter(aredis)
    assert (letter["error-code"], letter["attempts"]) == ("INVALID_HEADER_VALUE", "1")
    assert letter["exhausted-retry-condition"] == ""
    assert http_server.received == []
