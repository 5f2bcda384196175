"""Durable executions through a worker on a real Redis: the Python API and the step store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from eventbus.workflows import run_local
from eventbus.workflows.executions import Executions

from .durable import assert_contiguous, history, until_closed, worker
from .helpers import machine

PASS_CHAIN = machine({
    "First": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.first", "Next": "Add"},
    "Add": {"Type": "Task", "Resource": "add", "Next": "Done"},
    "Done": {"Type": "Succeed"},
})


def add(data: Any) -> Any:
    return {**data, "sum": data["a"] + data["b"]}


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_an_execution_runs_to_its_end_through_a_worker(redis: Redis) -> None:
    api = Executions(redis, {"chain": PASS_CHAIN})
    started = await api.start_execution("chain", '{"a": 2, "b": 3}', name="one")
    assert started["executionArn"] == \
        "arn:aws:states:us-east-1:123456789012:execution:chain:one"
    async with worker(redis, {"add": add}):
        done = await until_closed(api, started["executionArn"])
    assert done["status"] == "SUCCEEDED"
    local = run_local(PASS_CHAIN, '{"a": 2, "b": 3}', tasks={"add": add})
    assert orjson.loads(done["output"]) == orjson.loads(local["output"])
    events = await history(api, started["executionArn"])
    assert_contiguous(events)
    assert [e["type"] for e in events] == [e["type"] for e in local["events"]]
