"""Fixtures of the workflow fault tests (``fault_rig.py`` has the rest of what they share)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from .fault_rig import CountingServer, Workers, rules_dir, workers_on


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.close()


@pytest.fixture
def worker_processes(tmp_path: Path) -> Iterator[Workers]:
    """Worker processes, to be pointed at a Redis with ``.redis_url`` before ``.spawn()``."""
    yield from workers_on("", rules_dir(tmp_path / "rules"))


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """An asyncio client of the test's emptied Redis."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()
