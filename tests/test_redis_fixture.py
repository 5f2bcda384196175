"""The test Redis itself: a real server that survives a restart with AOF."""

from __future__ import annotations

from collections.abc import Callable

import redis
from redis_server import RedisServer


def test_session_server_answers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.ping()


def test_restart_with_aof_keeps_data(redis_factory: Callable[..., RedisServer]) -> None:
    server = redis_factory(appendonly=True, fsync="always")
    client = redis.Redis.from_url(server.url)
    client.set("k", "v")
    server.restart(kill=True)
    assert redis.Redis.from_url(server.url).get("k") == b"v"
