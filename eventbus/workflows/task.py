"""Task states (pure): the step function asks its driver to invoke the resource."""

from __future__ import annotations

from typing import Any

from eventbus.errors import StatesError
from eventbus.workflows import jsontext
from eventbus.workflows.commands import InvokeTask, TaskResult, TaskStarted
from eventbus.workflows.errors_handling import with_retry_and_catch
from eventbus.workflows.runtime import StateFailure, StateRun, Steps, awaiting, request
from eventbus.workflows.task_token import encode_token, is_callback

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
    token = run.env.uuid()
    if is_callback(resource):
        # The callback pattern: the task's input names the token ($$.Task.Token) to answer
        # with, and the token leads SendTask* to this execution.
        token = encode_token(run.env.info.execution_arn, token)
        run.context = {**run.context, "Task": {"Token": token}}
    if run.jsonata:
        data = run.raw_input
        task_input = run.arguments()
    else:
        data = run.input_path()
        task_input = run.parameters(data)
    timeout = _seconds(run, data, "TimeoutSeconds")
    heartbeat = _seconds(run, data, "HeartbeatSeconds")
    events = _Events(run, resource, kind, name)
    events.scheduled(task_input, timeout, heartbeat)
    reply = yield from request(InvokeTask(token, resource, task_input, timeout, heartbeat))
    if isinstance(reply, TaskStarted):  # an activity taken by a worker: its result follows
        events.started(reply.worker_name)
        reply = yield from awaiting(token)
    assert isinstance(reply, TaskResult)
    if not reply.timed_out or reply.taken_by is not None:
        # Taken, though its start was not told: answered at once (run_local), or its answer
        # was applied before its start.
        events.started(reply.taken_by or None)
    if reply.timed_out:  # by TimeoutSeconds, or HeartbeatSeconds (States.HeartbeatTimeout)
        error = reply.error or "States.Timeout"
        events.ended("TimedOut", error=error)
        raise StateFailure(error, None)
    if reply.failed:
        events.ended("Failed", error=reply.error, cause=reply.cause)
        raise StateFailure(reply.error, reply.cause)
    events.ended("Succeeded", output=jsontext.dumps(reply.output),
                 outputDetails={"truncated": False})
    output, assigned = run.finish(reply.output)
    return run.outcome(output, assigned)


class _Events:
    """The history events of one task call, in the family AWS records for its resource:
    ``LambdaFunction*`` for a Lambda function ARN, ``Activity*`` for an activity ARN,
    ``Task*`` (with ``resourceType``/``resource``) for a service integration."""

    def __init__(self, run: StateRun, arn: str, kind: str, name: str) -> None:
        self.history = run.frame.history
        self.region = run.env.info.region
        self.pending_start = False  # an activity's start is recorded once a worker takes it
        self.arn = arn
        self.ids: dict[str, str] = {}
        parts = arn.split(":")
        service = parts[2] if len(parts) > 5 and parts[0] == "arn" else ""
        if service == "lambda" and parts[5] == "function":
            self.family = "LambdaFunction"
        elif service == "states" and parts[5] == "activity":
            self.family = "Activity"
        else:
            self.family, self.ids = "Task", {"resourceType": kind, "resource": name}

    def scheduled(self, task_input: Any, timeout: int | None, heartbeat: int | None) -> None:
        text = jsontext.dumps(task_input)
        if self.family == "Task":
            details: dict[str, Any] = {**self.ids, "region": self.region,
                                      "parameters": text}
        else:
            details = {"resource": self.arn, "input": text, "inputDetails": {"truncated": False}}
        if timeout is not None:
            details["timeoutInSeconds"] = timeout
        if heartbeat is not None and self.family != "LambdaFunction":
            details["heartbeatInSeconds"] = heartbeat
        self.history.add(f"{self.family}Scheduled", details)
        if self.family == "Activity":
            self.pending_start = True
        else:
            self.history.add(f"{self.family}Started", dict(self.ids) if self.ids else None)

    def started(self, worker_name: str | None) -> None:
        """An activity's ``ActivityStarted``, once per attempt (a task timed out before any
        worker took it has none, as on AWS)."""
        if self.pending_start:
            self.pending_start = False
            self.history.add("ActivityStarted",
                             {"workerName": worker_name} if worker_name is not None else None)

    def ended(self, how: str, **details: Any) -> None:
        present = {k: v for k, v in details.items() if v is not None}
        self.history.add(f"{self.family}{how}", {**self.ids, **present})


def run_task(run: StateRun) -> Steps:
    return (yield from with_retry_and_catch(run, lambda n: _attempt(run, n)))
