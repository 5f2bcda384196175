"""Child workflows on a real Redis with real workers: the states:startExecution resources."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis

from eventbus.errors import TaskFailed
from eventbus.rule_watch import RuleWatch
from eventbus.worker import Router, RouterOptions
from eventbus.workflows import child_completions, child_executions, store
from eventbus.workflows.activities import Activities
from eventbus.workflows.arns import execution_arn, states_arn
from eventbus.workflows.executions import Executions
from eventbus.workflows.task_services import TaskServices

from .durable import assert_contiguous, history, until_closed, worker
from .helpers import machine
from .test_workflow_target import project

MACHINE_ARN = states_arn("stateMachine", "")

CHILD = machine({
    "Double": {"Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"},
               "End": True},
})
FAILING_CHILD = machine({"Boom": {"Type": "Fail", "Error": "Child.Broke", "Cause": "on purpose"}})


def parent(resource: str, child: str = "child", **params: Any) -> str:
    return machine({
        "Start child": {
            "Type": "Task", "Resource": resource,
            "Parameters": {"StateMachineArn": MACHINE_ARN + child, "Input": {"n.$": "$.n"},
                           **params},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Pass", "End": True},
    })


def api_for(redis: Redis, **machines: str) -> Executions:
    return Executions(redis, {"child": CHILD, "failing": FAILING_CHILD, **machines})


async def test_start_execution_answers_at_once_and_the_child_runs(redis: Redis) -> None:
    api = api_for(redis, parent=parent("arn:aws:states:::states:startExecution", Name="kid-1"))
    started = await api.start_execution("parent", '{"n": 4}', name="p1")
    async with worker(redis, definitions=api.definitions, block_ms=100):
        done = await until_closed(api, started["executionArn"])
        out = orjson.loads(done["output"])
        child_arn = execution_arn("child", "kid-1")
        assert out["ExecutionArn"] == child_arn
        assert out["StartDate"].endswith("Z") and len(out["StartDate"]) == 24
        child = await until_closed(api, child_arn)
    assert orjson.loads(child["output"]) == {"doubled": 8}


async def test_sync2_waits_for_the_child_and_answers_its_output_as_json(redis: Redis) -> None:
    api = api_for(redis, parent=parent("arn:aws:states:::states:startExecution.sync:2"))
    started = await api.start_execution("parent", '{"n": 21}', name="p2")
    async with worker(redis, definitions=api.definitions, block_ms=100):
        done = await until_closed(api, started["executionArn"])
    assert done["status"] == "SUCCEEDED"
    out = orjson.loads(done["output"])
    assert out["Output"] == {"doubled": 42}
    assert out["Input"] == {"n": 21}
    assert out["Status"] == "SUCCEEDED"
    assert out["StateMachineArn"] == MACHINE_ARN + "child"
    assert out["RedriveStatus"] == "NOT_REDRIVABLE"
    assert {"ExecutionArn", "Name", "StartDate", "StopDate", "OutputDetails"} <= set(out)
    # The child is named after the task token, and lives on a partition of its own.
    assert out["Name"] in out["ExecutionArn"]
    events = await history(api, started["executionArn"])
    assert_contiguous(events)
    assert [e["type"] for e in events].count("TaskSucceeded") == 1


async def test_sync_answers_the_output_as_text(redis: Redis) -> None:
    api = api_for(redis, parent=parent("arn:aws:states:::states:startExecution.sync"))
    started = await api.start_execution("parent", '{"n": 1}', name="p3")
    async with worker(redis, definitions=api.definitions, block_ms=100):
        done = await until_closed(api, started["executionArn"])
    out = orjson.loads(done["output"])
    assert orjson.loads(out["Output"]) == {"doubled": 2}
    assert orjson.loads(out["Input"]) == {"n": 1}


async def test_a_failed_child_fails_the_task_with_its_description(redis: Redis) -> None:
    api = api_for(redis, parent=parent("arn:aws:states:::states:startExecution.sync:2",
                                       child="failing"))
    started = await api.start_execution("parent", '{"n": 1}', name="p4")
    async with worker(redis, definitions=api.definitions, block_ms=100):
        done = await until_closed(api, started["executionArn"])
    caught = orjson.loads(done["output"])
    assert caught["Error"] == "States.TaskFailed"
    cause = orjson.loads(caught["Cause"])
    assert cause["Status"] == "FAILED"
    assert cause["Error"] == "Child.Broke" and cause["Cause"] == "on purpose"
    assert "Output" not in cause


async def test_an_unknown_machine_fails_the_task(redis: Redis) -> None:
    api = api_for(redis, parent=parent("arn:aws:states:::states:startExecution.sync:2",
                                       child="nowhere"))
    started = await api.start_execution("parent", '{"n": 1}', name="p5")
    async with worker(redis, definitions=api.definitions, block_ms=100):
        done = await until_closed(api, started["executionArn"])
    caught = orjson.loads(done["output"])
    assert caught["Error"] == "StepFunctions.StateMachineDoesNotExistException"
    assert caught["Cause"] == ("State Machine Does Not Exist: "
                               f"'{MACHINE_ARN}nowhere'")


async def test_wait_for_task_token_is_answered_by_the_child(redis: Redis) -> None:
    answering_child = machine({
        "Answer": {"Type": "Task", "Resource": "answer", "Parameters": {"token.$": "$.token"},
                   "End": True},
    })
    api = api_for(redis, answering=answering_child, parent=machine({
        "Start child": {
            "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.waitForTaskToken",
            "Parameters": {"StateMachineArn": MACHINE_ARN + "answering",
                           "Input": {"token.$": "$$.Task.Token"}},
            "End": True,
        },
    }))

    async def answer(data: Any) -> Any:
        await Activities(redis).send_task_success(data["token"], '{"answered": true}')
        return {}

    started = await api.start_execution("parent", "{}", name="p6")
    async with worker(redis, {"answer": answer}, definitions=api.definitions, block_ms=100):
        done = await until_closed(api, started["executionArn"])
    assert orjson.loads(done["output"]) == {"answered": True}


async def test_a_completion_delivered_again_changes_nothing(redis: Redis) -> None:
    api = api_for(redis, parent=parent("arn:aws:states:::states:startExecution.sync:2",
                                       Name="kid-again"))
    started = await api.start_execution("parent", '{"n": 2}', name="p7")
    async with worker(redis, definitions=api.definitions, concurrency=4), \
            worker(redis, definitions=api.definitions, concurrency=4, consumer="second"):
        done = await until_closed(api, started["executionArn"])
    before = await history(api, started["executionArn"])
    child = execution_arn("child", "kid-again")
    assert store.partition_of(child) != store.partition_of(started["executionArn"])
    # A worker that died after telling the parent and before acknowledging: the claimer
    # delivers the same close again.
    assert await child_completions.deliver(redis, child, "0-1") == "closed"
    assert await history(api, started["executionArn"]) == before
    assert done["status"] == "SUCCEEDED"
    assert_contiguous(before)


async def test_a_repeated_start_finds_the_child_it_started(redis: Redis) -> None:
    """A worker that dies after starting and before acknowledging starts again with the same
    token: the repeat answers the same child, even once that child has closed."""
    api = api_for(redis)
    services = TaskServices(redis=redis, publish=lambda *_a, **_k: None,
                            connections={})
    services.definitions = api.definitions
    start = child_executions.INTEGRATIONS[child_executions.START_EXECUTION]
    parent_arn = execution_arn("parent", "repeat")
    params: dict[str, Any] = {"StateMachineArn": MACHINE_ARN + "child", "Input": {"n": 1}}
    for named in (params, {**params, "Name": "named-once"}):
        first = await start(named, parent_arn, "token-1", services)
        async with worker(redis, block_ms=100):
            await until_closed(api, first["ExecutionArn"])
        assert await start(named, parent_arn, "token-1", services) == first
        other = await start_error(start, named, parent_arn, "token-2", services)
        if "Name" in named:  # another attempt may not take a name in use
            assert other == "StepFunctions.ExecutionAlreadyExistsException"
        else:  # another attempt starts another child
            assert other is None
    await services.aclose()


async def start_error(start: Any, params: Any, parent_arn: str, token: str,
                      services: TaskServices) -> str | None:
    try:
        await start(params, parent_arn, token, services)
    except TaskFailed as failure:
        return failure.error
    return None


async def test_the_worker_of_eventbus_run_starts_the_workflow_files_machines(
    redis: Redis, tmp_path: Path
) -> None:
    rules, workflows = project(tmp_path)  # workflows/greet.asl.json
    watch = RuleWatch(rules, workflows=workflows)
    router = Router(redis, rules, RouterOptions(block_ms=20, workflows=True), rule_watch=watch)
    await router.start()
    task = asyncio.create_task(router.run())
    caller = machine({"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": MACHINE_ARN + "greet", "Input": {"who": "ada"}},
        "OutputPath": "$.Output", "End": True}})
    api = Executions(redis, {"caller": caller})
    try:
        started = await api.start_execution("caller", "{}", name="from-files")
        done = await until_closed(api, started["executionArn"])
    finally:
        router.stop()
        await asyncio.wait_for(task, 30)
    assert orjson.loads(done["output"]) == {"hello": "ada"}
