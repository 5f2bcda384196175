"""Executions calling the built-in integrations through a durable worker, on the real test Redis
and a real local HTTP server: an HTTP task and an EventBridge task, end to end."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis
from targets.conftest import HttpServer, Reply

from eventbus import keys
from eventbus.connections import ConnectionSpec, connection_arn
from eventbus.worker import Router, RouterOptions
from eventbus.workflows.executions import Executions
from eventbus.workflows.worker import WorkflowWorker

from .durable import assert_contiguous, history, until_closed
from .helpers import machine


@contextlib.asynccontextmanager
async def worker(
    redis: Redis, connections: Mapping[str, ConnectionSpec] | None = None
) -> AsyncIterator[WorkflowWorker]:
    running = WorkflowWorker(redis, connections=connections)
    task = asyncio.create_task(running.run())
    try:
        yield running
    finally:
        running.stop()
        await task


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.close()


async def test_an_execution_calls_an_http_task_with_retry(
    redis: Redis, http_server: HttpServer
) -> None:
    http_server.answer("/orders", Reply(503, b"busy"), Reply(201, {"id": "o-1"}))
    definition = machine(
        {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {
                    "ApiEndpoint": f"{http_server.url}/orders",
                    "Method": "POST",
                    "Authentication": {"ConnectionArn": connection_arn("shop")},
                    "RequestBody": {"n.$": "$.n"},
                },
                "ResultSelector": {"status.$": "$.StatusCode", "body.$": "$.ResponseBody"},
                "Retry": [
                    {
                        "ErrorEquals": ["States.Http.StatusCode.503"],
                        "IntervalSeconds": 1,
                        "MaxAttempts": 2,
                    }
                ],
                "End": True,
            },
        }
    )
    api = Executions(redis, {"http": definition})
    started = await api.start_execution("http", '{"n": 7}', name=f"http-{uuid.uuid4().hex}")
    async with worker(redis, connections={"shop": ConnectionSpec(name="shop")}):
        done = await until_closed(api, started["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    assert orjson.loads(done["output"]) == {"status": 201, "body": {"id": "o-1"}}
    first, second = http_server.requests("/orders")
    assert first.json() == second.json() == {"n": 7}
    # A retry is a new attempt: a new task token, so a new idempotency key.
    assert first.headers["idempotency-key"] != second.headers["idempotency-key"]
    events = await history(api, started["executionArn"])
    assert_contiguous(events)
    assert [e["type"] for e in events].count("TaskFailed") == 1


async def test_an_execution_publishes_with_an_eventbridge_task(redis: Redis) -> None:
    bus = f"wf-{uuid.uuid4().hex[:12]}"
    definition = machine(
        {
            "Publish": {
                "Type": "Task",
                "Resource": "arn:aws:states:::events:putEvents",
                "Parameters": {
                    "Entries": [
                        {
                            "Source": "pipeline",
                            "DetailType": "Done",
                            "Detail": {"run.$": "$.run"},
                            "EventBusName": bus,
                        }
                    ]
                },
                "End": True,
            },
        }
    )
    api = Executions(redis, {"events": definition})
    started = await api.start_execution("events", '{"run": 3}', name=f"ev-{uuid.uuid4().hex}")
    async with worker(redis):
        done = await until_closed(api, started["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    output = orjson.loads(done["output"])
    [(_, fields)] = await redis.xrange(keys.bus_stream(bus, 0))
    event = orjson.loads(fields[b"event"])
    assert output == {"Entries": [{"EventId": event["id"]}], "FailedEntryCount": 0}
    assert (event["source"], event["detail"]) == ("pipeline", {"run": 3})


async def test_eventbus_run_gives_http_tasks_the_connections_of_the_rule_files(
    redis: Redis, http_server: HttpServer, tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text("connections:\n  - name: from-rules\n")
    definition = machine(
        {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {
                    "ApiEndpoint": f"{http_server.url}/ping",
                    "Method": "GET",
                    "Authentication": {"ConnectionArn": connection_arn("from-rules")},
                },
                "OutputPath": "$.StatusCode",
                "End": True,
            },
        }
    )
    router = Router(redis, tmp_path, RouterOptions(claim_idle=0.5, block_ms=20, workflows=True))
    await router.start()
    task = asyncio.create_task(router.run())
    try:
        api = Executions(redis, {"ping": definition})
        started = await api.start_execution("ping", "{}", name=f"ping-{uuid.uuid4().hex}")
        done = await until_closed(api, started["executionArn"])
    finally:
        router.stop()
        await asyncio.wait_for(task, 30)
    assert (done["status"], done["output"]) == ("SUCCEEDED", "200")
