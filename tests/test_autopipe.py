"""The auto-pipelining client: each caller gets redis-py's answers, over shared round trips."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio

from eventbus.autopipe import AutoPipelineRedis, use_hiredis_packing


def autopipe(url: str) -> AutoPipelineRedis:
    pool = redis.asyncio.ConnectionPool.from_url(url, decode_responses=True)
    use_hiredis_packing(pool)
    return AutoPipelineRedis(connection_pool=pool, flush_timeout=5.0)


async def test_concurrent_commands_get_redis_pys_own_replies(redis_url: str) -> None:
    client = autopipe(redis_url)
    try:
        # Given commands whose replies redis-py converts, one with a two-word name
        await client.xadd("s", {"f": "v"})
        await client.xgroup_create("s", "g", id="0")
        sets, groups, length = await asyncio.gather(
            client.set("k", "v", nx=True), client.xinfo_groups("s"), client.xlen("s")
        )
        # Then each caller gets what redis-py's plain client answers
        assert sets is True
        assert [g["name"] for g in groups] == ["g"]
        assert length == 1
        assert await client.get("k") == "v"
    finally:
        await client.aclose()
        await client.connection_pool.disconnect()


async def test_a_refused_command_fails_alone(redis_url: str) -> None:
    client = autopipe(redis_url)
    try:
        await client.set("text", "not a number")
        good, bad, many = await asyncio.gather(
            client.incr("n"),
            client.incr("text"),
            client.execute_many([("INCR", "n"), ("INCR", "text"), ("GET", "n")]),
            return_exceptions=True,
        )
        assert good == 1
        assert isinstance(bad, redis.ResponseError)
        assert many[0] == 2 and isinstance(many[1], redis.ResponseError) and many[2] == "2"
    finally:
        await client.aclose()
        await client.connection_pool.disconnect()


@pytest.mark.timeout(30)
async def test_a_connection_closed_by_redis_between_calls_is_replaced(redis_url: str) -> None:
    client = autopipe(redis_url)
    try:
        assert await client.incr("n") == 1
        # When Redis drops every client connection between two calls
        with redis.Redis.from_url(redis_url) as admin:
            admin.client_kill_filter(_type="normal", skipme=True)
        await asyncio.sleep(0.2)  # some time passes: the closed socket is seen as closed
        # Then the next call still gets its answer
        assert await client.incr("n") == 2
    finally:
        await client.aclose()
        await client.connection_pool.disconnect()
