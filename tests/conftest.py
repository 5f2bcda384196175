"""Shared fixtures: a real redis-server per test session (and per test for fault tests)."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

from redis_server import RedisServer

# Rule caches (eventbus.rule_cache) of this session's processes, routers run as subprocesses
# included, go to a directory of its own rather than the user's cache.
_CACHE_HOME = tempfile.mkdtemp(prefix="eventbus-tests-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE_HOME
atexit.register(shutil.rmtree, _CACHE_HOME, ignore_errors=True)

# Property tests are bounded in `make test` (a shared 2-core machine: no deadlines, which would
# flake under load); `make test-full` runs them with many more examples.
settings.register_profile(
    "ci", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "full", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the whole session, never shared with anything else on the machine."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session server's URL, emptied before each test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start a private redis-server for one test (AOF, kill and restart for fault tests)."""
    servers: list[RedisServer] = []

    def make(**kwargs: object) -> RedisServer:
        server = RedisServer(tmp_path / f"redis{len(servers)}", **kwargs).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def nightly_sfn_gateway(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[Any]:
    """A real gateway serving the Step Functions API with one workflow file's machine,
    ``nightly`` (``sfn_gateway.nightly_gateway``), one per test module."""
    from sfn_gateway import nightly_gateway

    with nightly_gateway(tmp_path_factory, redis_server.url) as gw:
        yield gw


@pytest.fixture
def sfn(nightly_sfn_gateway: Any, redis_url: str) -> Any:
    """boto3's ``stepfunctions`` client for that gateway, on an emptied Redis."""
    from sfn_gateway import sfn_client

    return sfn_client(nightly_sfn_gateway.url)
