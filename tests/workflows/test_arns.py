"""Durable executions carry the region and account of the settings in every ARN they show."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from eventbus.settings import Settings
from eventbus.workflows.activities import Activities
from eventbus.workflows.executions import Executions
from eventbus.workflows.status_events import status_event
from eventbus.workflows.task_token import decode_token

from .durable import history, until_closed, worker
from .helpers import machine

SETTINGS = Settings(region="eu-west-1", account="111122223333")
ACTIVITY = "arn:aws:states:eu-west-1:111122223333:activity:resize"
ASK = machine({
    "Who": {"Type": "Pass", "Parameters": {"id.$": "$$.Execution.Id",
                                           "machine.$": "$$.StateMachine.Id"},
            "ResultPath": "$.me", "Next": "Ask"},
    "Ask": {"Type": "Task", "Resource": ACTIVITY, "ResultPath": "$.answer", "End": True},
})


async def test_the_settings_region_and_account_name_the_execution_everywhere(
    redis: Redis,
) -> None:
    api = Executions(redis, {"ask": ASK}, SETTINGS)
    arn = (await api.start_execution("ask", "{}", name="one"))["executionArn"]
    assert arn == "arn:aws:states:eu-west-1:111122223333:execution:ask:one"
    async with worker(redis):
        task = await Activities(redis).get_activity_task(ACTIVITY, "w", timeout=20)
        # The token leads back to the execution under its ARN.
        assert decode_token(task["taskToken"])[0] == arn
        await Activities(redis).send_task_success(task["taskToken"], '{"ok": true}')
        done = await until_closed(api, arn)
    assert done["status"] == "SUCCEEDED"
    assert done["stateMachineArn"] == "arn:aws:states:eu-west-1:111122223333:stateMachine:ask"
    assert orjson.loads(done["output"])["me"] == {"id": arn, "machine": done["stateMachineArn"]}
    listed = (await api.list_executions(done["stateMachineArn"]))["executions"]
    assert [e["executionArn"] for e in listed] == [arn]
    events = await history(api, arn)
    assert events[0]["executionStartedEventDetails"]["roleArn"].startswith(
        "arn:aws:iam::111122223333:")
    record = {"arn": arn, "machine": "ask", "name": "one", "input": "{}", "start_ms": "1"}
    detail = orjson.loads(orjson.loads(status_event(record, "RUNNING"))["Detail"])
    assert detail["stateMachineArn"] == done["stateMachineArn"]
