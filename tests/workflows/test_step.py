"""The step function: commands out, replies in, no clock or randomness of its own."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from eventbus.workflows.commands import (
    ExecutionTimeout,
    InvokeTask,
    StartTimer,
    StopExecution,
    TaskResult,
    TimerFired,
)
from eventbus.workflows.context import ExecutionInfo
from eventbus.workflows.step import EXECUTION_TIMEOUT_TOKEN, replay, start, step

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TASK_MACHINE = {
    "StartAt": "T",
    "States": {
        "T": {"Type": "Task", "Resource": "work", "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 10, "End": True},
    },
}


def _info(data: object = None) -> ExecutionInfo:
    return ExecutionInfo(name="e1", state_machine_name="sm", start_time=T0, input=data or {})


def _ids() -> itertools.count[int]:
    return itertools.count()


def _start(definition: dict[str, object]):  # type: ignore[no-untyped-def]
    counter = _ids()
    return start(definition, _info({"n": 1}), uuid=lambda: f"u{next(counter)}",
                 random=lambda: 0.5)


def test_start_records_execution_started_and_asks_for_the_first_task() -> None:
    _, first = _start(TASK_MACHINE)
    assert [e["type"] for e in first.events] == [
        "ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted",
    ]
    (command,) = first.commands
    assert isinstance(command, InvokeTask)
    assert (command.resource, command.input) == ("work", {"n": 1})
    assert first.status == "RUNNING"


def test_a_task_result_resumes_the_execution_until_the_next_command() -> None:
    execution, first = _start(TASK_MACHINE)
    token = first.commands[0].token
    second = step(execution, TaskResult(token, T0, output={"done": True}))
    assert [e["type"] for e in second.events] == [
        "TaskSucceeded", "TaskStateExited", "WaitStateEntered",
    ]
    (timer,) = second.commands
    assert isinstance(timer, StartTimer)
    assert timer.fire_at == T0 + timedelta(seconds=10)


def test_the_execution_ends_when_its_last_timer_fires_at_the_time_given() -> None:
    execution, first = _start(TASK_MACHINE)
    second = step(execution, TaskResult(first.commands[0].token, T0, output={"done": True}))
    fire_at = second.commands[0].fire_at
    last = step(execution, TimerFired(second.commands[0].token, fire_at))
    assert last.status == "SUCCEEDED"
    assert last.output == '{"done":true}'
    assert last.events[-1]["timestamp"] == "2024-05-01T12:00:10.000Z"


def test_replaying_the_stored_replies_rebuilds_the_same_history() -> None:
    execution, first = _start(TASK_MACHINE)
    replies = [TaskResult(first.commands[0].token, T0, output=1)]
    second = step(execution, replies[0])
    counter = _ids()
    again, last = replay(TASK_MACHINE, _info({"n": 1}), replies,
                         uuid=lambda: f"u{next(counter)}", random=lambda: 0.5)
    assert again.env.history.events == execution.env.history.events
    assert last.commands == second.commands


def test_a_top_level_timeout_is_a_timer_and_its_firing_times_the_execution_out() -> None:
    execution, first = _start({**TASK_MACHINE, "TimeoutSeconds": 5})
    timer = first.commands[0]
    assert isinstance(timer, StartTimer) and timer.token == EXECUTION_TIMEOUT_TOKEN
    last = step(execution, ExecutionTimeout(timer.fire_at))
    assert last.status == "TIMED_OUT"
    assert last.events[-1]["type"] == "ExecutionTimedOut"


def test_a_failed_task_reply_fails_the_execution_with_its_error_and_cause() -> None:
    execution, first = _start(TASK_MACHINE)
    last = step(execution, TaskResult(first.commands[0].token, T0, failed=True,
                                      error="Oops", cause="bad"))
    assert (last.status, last.error, last.cause) == ("FAILED", "Oops", "bad")
    assert last.events[-1]["executionFailedEventDetails"] == {"error": "Oops", "cause": "bad"}


def test_parallel_branches_and_map_iterations_issue_their_commands_together() -> None:
    task_branch = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "work",
                                                    "End": True}}}
    definition = {"StartAt": "P", "States": {"P": {
        "Type": "Parallel", "Branches": [task_branch, task_branch], "End": True}}}
    execution, first = _start(definition)
    assert [type(c) for c in first.commands] == [InvokeTask, InvokeTask]
    a, b = first.commands
    # Replies may come in any order; each goes to the branch that asked.
    assert step(execution, TaskResult(b.token, T0, output="b")).status == "RUNNING"
    last = step(execution, TaskResult(a.token, T0, output="a"))
    assert (last.status, last.output) == ("SUCCEEDED", '["a","b"]')


def test_max_concurrency_bounds_the_iterations_in_flight() -> None:
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "MaxConcurrency": 2, "End": True,
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "w",
                                                           "End": True}}}}}}
    counter = _ids()
    info = ExecutionInfo(name="e", state_machine_name="sm", start_time=T0, input=[1, 2, 3])
    execution, first = start(definition, info, uuid=lambda: f"u{next(counter)}",
                             random=lambda: 0.5)
    assert len(first.commands) == 2
    second = step(execution, TaskResult(first.commands[0].token, T0, output=1))
    assert [c.input for c in second.commands] == [3]


def test_stop_execution_aborts_it_with_the_error_and_cause_given() -> None:
    execution, _ = _start(TASK_MACHINE)
    last = step(execution, StopExecution(T0, error="Stopped", cause="by hand"))
    assert (last.status, last.error, last.cause) == ("ABORTED", "Stopped", "by hand")
    assert last.events[-1]["type"] == "ExecutionAborted"
