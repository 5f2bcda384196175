"""The EventBridge task (``arn:aws:states:::events:putEvents``) on the real test Redis: entries
published to our buses through PutEvents, AWS's result and failure names, and one event per
entry however often one attempt is repeated."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from eventbus import keys
from eventbus.client import AsyncEventBusClient
from eventbus.errors import TaskFailed
from eventbus.workflows.events_task import PUT_EVENTS, put_events
from eventbus.workflows.integrations import WAIT_FOR_TASK_TOKEN, base_resource, integration_for
from eventbus.workflows.task_services import TaskServices

ARN = "arn:aws:states:us-east-1:000000000000:execution:m:e1"


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def services(aredis: aioredis.Redis) -> AsyncIterator[TaskServices]:
    services = TaskServices(redis=aredis, publish=AsyncEventBusClient(aredis).put_events)
    yield services
    await services.aclose()


@pytest.fixture
def bus() -> str:
    """A bus of this test's own, so the events it finds are its own."""
    return f"wf-{uuid.uuid4().hex[:12]}"


async def published(aredis: aioredis.Redis, bus: str) -> list[dict[str, Any]]:
    entries = await aredis.xrange(keys.bus_stream(bus, 0))
    return [orjson.loads(fields[b"event"]) for _, fields in entries]


async def test_entries_are_published_and_the_result_is_putevents_answer(
    aredis: aioredis.Redis, services: TaskServices, bus: str
) -> None:
    entries = [
        {"Source": "shop", "DetailType": "Done", "Detail": {"id": 1}, "EventBusName": bus},
        {"Source": "shop", "DetailType": "Text", "Detail": '{"id": 2}', "EventBusName": bus,
         "Resources": ["arn:r"]},
    ]  # fmt: skip
    result = await put_events({"Entries": entries}, ARN, str(uuid.uuid4()), services)
    assert result["FailedEntryCount"] == 0
    events = await published(aredis, bus)
    assert [e["id"] for e in events] == [entry["EventId"] for entry in result["Entries"]]
    assert [e["detail"] for e in events] == [{"id": 1}, {"id": 2}]
    assert (events[1]["detail-type"], events[1]["resources"]) == ("Text", ["arn:r"])


async def test_a_repeated_attempt_publishes_each_event_once(
    aredis: aioredis.Redis, services: TaskServices, bus: str
) -> None:
    task_input = {
        "Entries": [{"Source": "s", "DetailType": "d", "Detail": {}, "EventBusName": bus}]
    }
    token = str(uuid.uuid4())
    first = await put_events(task_input, ARN, token, services)
    again = await put_events(task_input, ARN, token, services)
    assert first == again
    assert len(await published(aredis, bus)) == 1
    await put_events(task_input, ARN, str(uuid.uuid4()), services)  # a new attempt
    assert len(await published(aredis, bus)) == 2


async def test_a_refused_entry_fails_the_task_with_eventbridge_failed_entry(
    aredis: aioredis.Redis, services: TaskServices, bus: str
) -> None:
    entries = [
        {"Source": "shop", "DetailType": "ok", "Detail": {}, "EventBusName": bus},
        {"Source": "aws.shop", "DetailType": "no", "Detail": {}, "EventBusName": bus},
    ]
    with pytest.raises(TaskFailed) as caught:
        await put_events({"Entries": entries}, ARN, str(uuid.uuid4()), services)
    assert caught.value.error == "EventBridge.FailedEntry"
    cause = orjson.loads(caught.value.cause or "")
    assert cause["FailedEntryCount"] == 1
    assert cause["Entries"][1]["ErrorCode"] == "NotAuthorizedForSourceException"


@pytest.mark.parametrize(
    "task_input",
    [{}, {"Entries": []}, {"Entries": [{"Source": "s"}] * 11}, {"Entries": ["text"]}, []],
)
async def test_a_request_putevents_refuses_whole_fails_with_its_exception(
    services: TaskServices, task_input: Any
) -> None:
    with pytest.raises(TaskFailed) as caught:
        await put_events(task_input, ARN, "t", services)
    assert caught.value.error == "EventBridge.EventBridgeException"
    assert "validation error" in (caught.value.cause or "")


def test_the_wait_for_task_token_form_waits_for_the_worker_to_wait() -> None:
    waiting = PUT_EVENTS + WAIT_FOR_TASK_TOKEN
    assert integration_for(PUT_EVENTS) is put_events
    assert integration_for(waiting) is None  # not dispatched until the worker waits for tokens
    assert integration_for(base_resource(waiting)) is put_events
