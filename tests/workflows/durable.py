"""Running durable executions in the tests: a worker in this process, and what to wait for."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson
from redis.asyncio import Redis

from eventbus.workflows.executions import Executions
from eventbus.workflows.worker import WorkerOptions, WorkflowWorker


@contextlib.asynccontextmanager
async def worker(redis: Redis, tasks: Mapping[str, Callable[[Any], Any]] | None = None,
                 definitions: Mapping[str, str] | None = None,
                 **options: Any) -> AsyncIterator[WorkflowWorker]:
    running = WorkflowWorker(redis, WorkerOptions(**options), tasks=tasks,
                             definitions=definitions)
    task = asyncio.create_task(running.run())
    try:
        yield running
    finally:
        running.stop()
        await task


async def until_closed(api: Executions, arn: str, timeout: float = 30.0) -> dict[str, Any]:
    """The execution's description once it has ended (polled; bounded)."""
    async with asyncio.timeout(timeout):
        while True:
            described = await api.describe_execution(arn)
            if described["status"] != "RUNNING":
                return described
            await asyncio.sleep(0.02)


async def history(api: Executions, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token = None
    while True:
        page = await api.get_execution_history(arn, max_results=1000, next_token=token)
        events += page["events"]
        token = page.get("nextToken")
        if token is None:
            return events


def assert_contiguous(events: list[dict[str, Any]]) -> None:
    """Ids 1..n, each previousEventId an earlier event, no event twice."""
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    for e in events:
        assert 0 <= e["previousEventId"] < e["id"]
    texts = [orjson.dumps(e, default=str) for e in events]
    assert len(set(texts)) == len(texts)
