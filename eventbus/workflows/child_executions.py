"""Child workflows: the ``arn:aws:states:::states:startExecution`` task resources.

- ``startExecution``: starts the child and answers ``{"ExecutionArn", "StartDate"}`` at once.
- ``startExecution.sync``: waits for the child to close; the task's result is the child's
  DescribeExecution in AWS's capitalised form, ``Output`` as JSON text.
- ``startExecution.sync:2``: the same, with ``Input`` and ``Output`` as JSON.
- ``startExecution.waitForTaskToken``: starts the child, which answers with SendTaskSuccess.

A child is a durable execution like any other, on its own partition. A waiting parent waits
as a callback task does (its wait registered in its waits hash before the child is started);
the child's record names the parent (field ``parent``), so the step that closes the child also
queues a ``closed`` work entry on the child's partition, and the worker handling it ends the
parent's wait (:mod:`eventbus.workflows.child_completions`): exactly once by the waits hash,
at least once across crashes since the entry stays pending until then.

Starting is at least once too (a worker that dies after starting and before acknowledging
starts again): without ``Name`` the child is named after the task token, the same on every
repeat of one attempt, so a repeat finds the execution it started.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import orjson

from eventbus.errors import (
    ExecutionAlreadyExists,
    InvalidDefinition,
    InvalidExecutionInput,
    RequestRejected,
    TaskFailed,
)
from eventbus.workflows import jsontext
from eventbus.workflows.arns import execution_arn, identity_of, machine_arn_of, states_arn
from eventbus.workflows.context import iso_time
from eventbus.workflows.registry import machines
from eventbus.workflows.task_services import TaskServices

__all__ = [
    "INTEGRATIONS",
    "START_EXECUTION",
    "SYNC",
    "SYNC2",
    "child_name",
    "child_output",
    "child_started",
    "parent_link",
    "start_child",
    "waits_for_child",
]

START_EXECUTION: Final = "arn:aws:states:::states:startExecution"
SYNC: Final = START_EXECUTION + ".sync"
SYNC2: Final = START_EXECUTION + ".sync:2"
_MODES: Final = {SYNC: "sync", SYNC2: "sync:2"}
Integration = Callable[[Any, str, str, TaskServices], Awaitable[Any]]
# Child names drawn from task tokens: fixed, so a repeat names the same child.
_NAMESPACE: Final = uuid.UUID("0c5e3a52-8d1f-5f4b-b7a9-3e6d2f1c9a80")


def waits_for_child(resource: str) -> bool:
    """Does a task with this resource wait for the child execution it starts to close?"""
    return resource in _MODES


def child_name(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(parts)))


def parent_link(parent_arn: str, token: str, mode: str, **more: Any) -> str:
    """The ``parent`` field of a child's record: whom to tell when it closes, and how."""
    return orjson.dumps({"arn": parent_arn, "token": token, "mode": mode, **more}).decode()


def _machine_name(arn: Any) -> str:
    if not isinstance(arn, str) or not arn:
        raise TaskFailed("States.Runtime", "The field 'StateMachineArn' is required and must be "
                         "a state machine ARN.")
    return arn.rsplit(":stateMachine:", 1)[-1]


async def definition_of(services: TaskServices, machine: str, account: str) -> str | None:
    """The machine's definition text: the worker's own (workflow files), else one created
    over the Step Functions API in ``account``."""
    text = services.definitions.get(machine)
    if text is not None:
        return text
    stored = await machines(services.redis, account).get(machine)
    return None if stored is None else stored.definition


async def start_child(services: TaskServices, machine: str, definition: str, input_text: str,
                      name: str, parent: str) -> dict[str, Any]:
    """Start the child (or find the one a previous try of this attempt started)."""
    # Imported here: executions reads the workflow catalog, which names the task resources.
    from eventbus.workflows.executions import Executions

    api = Executions(services.redis, {machine: definition})
    try:
        return await api.start_execution(machine, input_text, name, parent=parent)
    except ExecutionAlreadyExists as err:
        arn = execution_arn(machine, name, api.settings)
        if await api.parent_of(arn) != parent:
            raise TaskFailed("StepFunctions.ExecutionAlreadyExistsException", str(err)) from err
        described = await api.describe_execution(arn)
        return {"executionArn": arn, "startDate": described["startDate"]}
    except InvalidDefinition as err:  # e.g. a Map's item processor AWS would have refused
        raise TaskFailed("StepFunctions.InvalidDefinitionException", err.message) from err
    except InvalidExecutionInput as err:
        raise TaskFailed("StepFunctions.InvalidExecutionInputException", str(err)) from err
    except RequestRejected as err:
        raise TaskFailed(f"StepFunctions.{err.code}Exception", err.message) from err


async def _start_execution(task_input: Any, arn: str, token: str, services: TaskServices,
                           mode: str) -> Any:
    params = task_input if isinstance(task_input, dict) else {}
    machine = _machine_name(params.get("StateMachineArn"))
    definition = await definition_of(services, machine, identity_of(arn)[1])
    if definition is None:
        raise TaskFailed("StepFunctions.StateMachineDoesNotExistException",
                         f"State Machine Does Not Exist: "
                         f"'{states_arn('stateMachine', machine)}'")
    raw_input = params.get("Input", {})
    input_text = raw_input if isinstance(raw_input, str) else jsontext.dumps(raw_input)
    name = params.get("Name")
    if not isinstance(name, str):
        name = child_name(arn, token)
    # Every child names its parent: a repeat recognises the child it started; only a waiting
    # parent (mode set) is told of the close.
    parent = parent_link(arn, token, mode)
    started = await start_child(services, machine, definition, input_text, name, parent)
    return child_started(started)


def _integration(mode: str) -> Integration:
    async def start(task_input: Any, arn: str, token: str, services: TaskServices) -> Any:
        return await _start_execution(task_input, arn, token, services, mode)
    return start


# The integrations of the startExecution forms (a ``.waitForTaskToken`` one makes the plain
# call); the ``.sync`` ones then wait, in the worker, for the child to close.
INTEGRATIONS: Final[dict[str, Integration]] = {
    START_EXECUTION: _integration(""),
    SYNC: _integration("sync"),
    SYNC2: _integration("sync:2"),
}


def child_started(started: Mapping[str, Any]) -> dict[str, Any]:
    """startExecution's result, as AWS gives it."""
    return {"ExecutionArn": started["executionArn"], "StartDate": iso_time(started["startDate"])}


def child_output(record: Mapping[str, str], mode: str) -> dict[str, Any]:
    """The child's description as a ``.sync`` task's result (``.sync:2``: JSON values)."""
    status = record["status"]
    as_json = mode == "sync:2"
    out: dict[str, Any] = {
        "ExecutionArn": record["arn"],
        "Input": jsontext.loads(record["input"]) if as_json else record["input"],
        "InputDetails": {"Included": True},
        "Name": record["name"],
    }
    if status == "SUCCEEDED":
        output = record.get("output", "")
        out["Output"] = jsontext.loads(output) if as_json else output
        out["OutputDetails"] = {"Included": True}
    out["RedriveCount"] = 0
    if status == "SUCCEEDED":
        out["RedriveStatus"] = "NOT_REDRIVABLE"
        out["RedriveStatusReason"] = "Execution is SUCCEEDED and cannot be redriven"
    else:
        out["RedriveStatus"] = "REDRIVABLE"
    out["StartDate"] = record["start"]
    out["StateMachineArn"] = machine_arn_of(record["arn"])
    out["Status"] = status
    if record.get("stop"):
        out["StopDate"] = record["stop"]
    for field in ("error", "cause"):
        if record.get(field):
            out[field.capitalize()] = record[field]
    return out
