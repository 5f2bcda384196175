"""Task states (pure): the step function asks its driver to invoke the resource."""

from __future__ import annotations

from typing import Any

from eventbus.errors import StatesError
from eventbus.workflows import jsontext
from eventbus.workflows.commands import InvokeTask, TaskResult
from eventbus.workflows.errors_handling import with_retry_and_catch
from eventbus.workflows.runtime import StateFailure, StateRun, Steps, request

__all__ = ["resource_parts", "run_task"]


def resource_parts(resource: str) -> tuple[str, str]:
    """(resourceType, resource) as Task* history events name them."""
    prefix = "arn:aws:states:::"
    if resource.startswith(prefix):
        rest = resource[len(prefix):]
        kind, _, name = rest.rpartition(":")
        return (kind or rest), name
    parts = resource.split(":")
    return (parts[2] if len(parts) > 2 and parts[0] == "arn" else "local"), resource


def _seconds(run: StateRun, data: Any, name: str) -> int | None:
    if name in run.state:
        value = run.state[name]
        if run.jsonata:
            value = run.resolve(value, name)
        return int(value)
    if name + "Path" in run.state:
        value = run.read(run.state[name + "Path"], data)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise StatesError("States.Runtime", f"The {name}Path field refers to value "
                              f"{jsontext.dumps(value)} which is not a valid positive integer: "
                              f"{run.state[name + 'Path']}")
        return value
    return None


def _attempt(run: StateRun, retry_count: int) -> Steps:
    resource = str(run.state["Resource"])
    kind, name = resource_parts(resource)
    if run.jsonata:
        data = run.raw_input
        task_input = run.resolve(run.state["Arguments"], "Arguments") \
            if "Arguments" in run.state else data
    else:
        data = run.input_path()
        task_input = run.payload(run.state["Parameters"], data) \
            if "Parameters" in run.state else data
    timeout = _seconds(run, data, "TimeoutSeconds")
    heartbeat = _seconds(run, data, "HeartbeatSeconds")
    history = run.frame.history
    scheduled: dict[str, Any] = {"resourceType": kind, "resource": name, "region": "us-east-1",
                                 "parameters": jsontext.dumps(task_input)}
    if timeout is not None:
        scheduled["timeoutInSeconds"] = timeout
    if heartbeat is not None:
        scheduled["heartbeatInSeconds"] = heartbeat
    history.add("TaskScheduled", scheduled)
    history.add("TaskStarted", {"resourceType": kind, "resource": name})
    reply = yield from request(
        InvokeTask(run.env.uuid(), resource, task_input, timeout, heartbeat))
    assert isinstance(reply, TaskResult)
    if reply.timed_out:
        history.add("TaskTimedOut", {"resourceType": kind, "resource": name,
                                     "error": "States.Timeout"})
        raise StateFailure("States.Timeout", None)
    if reply.failed:
        details = {"resourceType": kind, "resource": name}
        if reply.error is not None:
            details["error"] = reply.error
        if reply.cause is not None:
            details["cause"] = reply.cause
        history.add("TaskFailed", details)
        raise StateFailure(reply.error, reply.cause)
    history.add("TaskSucceeded", {"resourceType": kind, "resource": name,
                                  "output": jsontext.dumps(reply.output),
                                  "outputDetails": {"truncated": False}})
    output, assigned = run.finish(reply.output)
    return run.outcome(output, assigned)


def run_task(run: StateRun) -> Steps:
    return (yield from with_retry_and_catch(run, lambda n: _attempt(run, n)))
