"""A redrive in the step function (pure): where the run starts again, what it keeps, and that
replaying the replies with the redrive rebuilds the same execution."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from eventbus.workflows.commands import (
    ExecutionTimeout,
    InvokeTask,
    Redrive,
    Reply,
    StartTimer,
    TaskResult,
)
from eventbus.workflows.context import ExecutionInfo
from eventbus.workflows.step import Execution, Step, replay, start, step

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# Each Map iteration runs a Parallel: one branch a Pass, the other a Task.
NESTED: dict[str, Any] = {"StartAt": "Each", "States": {"Each": {
    "Type": "Map", "ItemsPath": "$.items", "End": True, "ItemProcessor": {
        "StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "Easy", "States": {"Easy": {"Type": "Pass", "End": True}}},
            {"StartAt": "Work", "States": {"Work": {
                "Type": "Task", "Resource": "work", "End": True}}},
        ]}}}}}}


def _start(definition: dict[str, Any], data: Any) -> tuple[Execution, Step]:
    counter = itertools.count()
    info = ExecutionInfo(name="e1", state_machine_name="sm", start_time=T0, input=data)
    return start(definition, info, uuid=lambda: f"u{next(counter)}", random=lambda: 0.5)


def _replay(definition: dict[str, Any], data: Any, replies: list[Reply]) -> Execution:
    counter = itertools.count()
    info = ExecutionInfo(name="e1", state_machine_name="sm", start_time=T0, input=data)
    execution, _ = replay(definition, info, replies, uuid=lambda: f"u{next(counter)}",
                          random=lambda: 0.5)
    return execution


def _tasks(result: Step) -> list[InvokeTask]:
    return [c for c in result.commands if isinstance(c, InvokeTask)]


def test_only_the_failed_branch_of_the_failed_iteration_runs_again() -> None:
    data = {"items": [1, 2]}
    execution, first = _start(NESTED, data)
    one, two = _tasks(first)
    assert (one.input, two.input) == (1, 2)
    replies: list[Reply] = [TaskResult(one.token, T0, output="one")]
    step(execution, replies[0])
    replies.append(TaskResult(two.token, T0, error="Boom", cause="no", failed=True))
    assert step(execution, replies[1]).status == "FAILED"
    replies.append(Redrive(T0 + timedelta(minutes=1), 1))
    redriven = step(execution, replies[2])
    (again,) = _tasks(redriven)
    assert again.input == 2 and again.token != two.token
    kinds = [e["type"] for e in redriven.events]
    assert kinds[:2] == ["ExecutionRedriven", "MapStateEntered"]
    assert kinds.count("MapIterationStarted") == 1 and "PassStateEntered" not in kinds
    replies.append(TaskResult(again.token, T0 + timedelta(minutes=1), output="two"))
    done = step(execution, replies[3])
    assert done.status == "SUCCEEDED"
    assert done.output is not None
    assert orjson.loads(done.output) == [[1, "one"], [2, "two"]]
    # The stored replies, redrive included, rebuild the same history.
    assert _replay(NESTED, data, replies).env.history.events == execution.env.history.events


def test_the_timeout_starts_again_and_the_old_one_is_ignored() -> None:
    definition = {"TimeoutSeconds": 60, "StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": "work", "End": True}}}
    execution, first = _start(definition, {})
    (timer,) = [c for c in first.commands if isinstance(c, StartTimer)]
    assert step(execution, ExecutionTimeout(timer.fire_at, timer.token)).status == "TIMED_OUT"
    later = timer.fire_at + timedelta(minutes=5)
    redriven = step(execution, Redrive(later, 1))
    (new_timer,) = [c for c in redriven.commands if isinstance(c, StartTimer)]
    assert new_timer.fire_at == later + timedelta(seconds=60)
    assert new_timer.token != timer.token
    assert step(execution, ExecutionTimeout(later, timer.token)).events == []
    assert step(execution, ExecutionTimeout(new_timer.fire_at, new_timer.token)).status == \
        "TIMED_OUT"


def test_the_context_shows_the_redrive_count_and_variables_are_kept() -> None:
    definition = {"StartAt": "Keep", "States": {
        "Keep": {"Type": "Pass", "Assign": {"x": 5}, "Next": "Work"},
        "Work": {"Type": "Task", "Resource": "work", "Next": "Show"},
        "Show": {"Type": "Pass", "End": True,
                 "Parameters": {"x.$": "$x", "count.$": "$$.Execution.RedriveCount"}}}}
    execution, first = _start(definition, {})
    (task,) = _tasks(first)
    step(execution, TaskResult(task.token, T0, error="E", failed=True))
    redriven = step(execution, Redrive(T0, 1))
    (again,) = _tasks(redriven)
    done = step(execution, TaskResult(again.token, T0, output={}))
    assert done.output == '{"x":5,"count":1}'


def test_only_a_closed_execution_is_redriven() -> None:
    execution, _ = _start(NESTED, {"items": [1]})
    with pytest.raises(ValueError, match="Redrive for an execution that is RUNNING"):
        step(execution, Redrive(T0, 1))
