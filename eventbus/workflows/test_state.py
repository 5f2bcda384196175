"""AWS's TestState API: run one state of a definition once, with mocks (pure).

The state runs through the same families as an execution; a Task's invocation is answered by
the request's ``mock``, and a Map's or Parallel's branches are replaced by it. A retrier that
would retry gives RETRIABLE, a catcher that takes the error CAUGHT_ERROR.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from eventbus.errors import InvalidDefinition, RequestRejected
from eventbus.workflows import jsontext, map_state
from eventbus.workflows.commands import Block, InvokeTask, TaskResult, TimerFired
from eventbus.workflows.context import ExecutionInfo
from eventbus.workflows.definition import parse_definition
from eventbus.workflows.errors_handling import with_retry_and_catch
from eventbus.workflows.history import Clock, History
from eventbus.workflows.interpreter import FAMILIES
from eventbus.workflows.mock_schemas import check_mock_result
from eventbus.workflows.runtime import JSONPATH, Env, Frame, Outcome, StateFailure, StateRun, Steps

__all__ = ["test_state"]

_NO_MOCK_TYPES = ("Pass", "Fail", "Succeed", "Choice", "Wait")
_CONTEXT_FIELDS: dict[str, frozenset[str]] = {
    "Execution": frozenset({"Id", "Input", "Name", "RoleArn", "StartTime", "RedriveCount",
                            "RedriveTime"}),
    "State": frozenset({"EnteredTime", "Name", "RetryCount"}),
    "StateMachine": frozenset({"Id", "Name"}),
    "Task": frozenset({"Token"}),
}
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _json(text: Any, message: str) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return jsontext.loads(text)
    except ValueError as err:
        raise RequestRejected(message) from err


def _find(states: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The state called ``name`` at any depth (inside Map processors and Parallel branches)."""
    if name in states:
        return dict(states[name])
    for state in states.values():
        processor = state.get("ItemProcessor") or state.get("Iterator")
        for branch in [processor] if processor else state.get("Branches", ()):
            found = _find(branch.get("States", {}), name)
            if found is not None:
                return found
    return None


def _pick_state(request: Mapping[str, Any]) -> tuple[str, dict[str, Any], str]:
    definition = parse_definition(request["definition"])
    if "States" in definition:
        name = request.get("stateName")
        state = _find(definition["States"], name) if isinstance(name, str) else None
        if state is None or name is None:
            raise RequestRejected("State not found in definition")
        return name, state, definition.get("QueryLanguage", JSONPATH)
    name = request.get("stateName") or "StateName"
    if definition.get("Type") == "Parallel" and not definition.get("Branches"):
        raise InvalidDefinition("Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: "
                                f"Value cannot be empty at /States/{name}/Branches'")
    return name, definition, JSONPATH


def _check(request: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
    """Refuse what AWS refuses; return the parsed mock result (or None)."""
    kind, mock = state.get("Type"), request.get("mock")
    config = request.get("stateConfiguration") or {}
    if "mapIterationFailureCount" in config and mock is None:
        raise RequestRejected("TestState does not support MapIterationFailureCount when a mock "
                              "is not specified.")
    if mock is not None:
        if request.get("revealSecrets"):
            raise RequestRejected("TestState does not support RevealSecrets when a mock is "
                                  "specified.")
        if ("result" in mock) == ("errorOutput" in mock):
            raise RequestRejected("A test mock should have only one of the following fields: "
                                  "[result, errorOutput].")
        if kind in _NO_MOCK_TYPES:
            raise RequestRejected(f"State type '{kind}' is not supported when a mock is specified")
    elif kind in ("Map", "Parallel"):
        raise InvalidDefinition("TestState API does not support Map or Parallel states. Supported "
                                "state types include: [Task, Pass, Wait, Choice, Succeed, Fail]")
    elif kind == "Task":
        raise RequestRejected("RoleArn must be specified when testing a Task state")
    return _mock_result(state, mock)


def _mock_result(state: Mapping[str, Any], mock: Mapping[str, Any] | None) -> Any:
    kind = state.get("Type")
    if mock is None or "result" not in mock:
        return None
    result = _json(mock["result"], "Mocked result must be valid JSON")
    if kind == "Map" and "ResultWriter" in state:
        if not isinstance(result, dict):
            raise RequestRejected("Mocked result must be a JSON object.")
    elif kind in ("Map", "Parallel") and not isinstance(result, list):
        raise RequestRejected("Mocked result must be an array.")
    if kind == "Task":
        check_mock_result(str(state.get("Resource", "")), result,
                          mock.get("fieldValidationMode", "STRICT"))
    if kind == "Parallel" and len(result) != len(state.get("Branches", ())):
        raise RequestRejected("Mocked result must contain the same number of items as number of "
                              "Parallel branches.")
    return result


def _context(request: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any] | None:
    if "context" not in request:
        return None
    ctx = _json(request["context"], "Invalid Context object provided: not valid JSON")
    if not isinstance(ctx, dict):
        raise RequestRejected("Invalid Context object provided: must be a JSON object")
    for key, value in ctx.items():
        if key == "Map":
            raise RequestRejected("Invalid Context object provided: 'Map' field is not supported "
                                  "when mocking a Context object")
        if key not in _CONTEXT_FIELDS:
            raise RequestRejected(f"Invalid Context object provided: Field '{key}' is not allowed")
        for field in value if isinstance(value, dict) else ():
            if field not in _CONTEXT_FIELDS[key]:
                raise RequestRejected(
                    f"Invalid Context object provided: Field '{field}' is not allowed")
    resource = str(state.get("Resource", ""))
    if "Task" in ctx and not (state.get("Type") == "Task" and resource.endswith(
            (".sync", ".waitForTaskToken", ".sync:2"))):
        raise RequestRejected(
            "Invalid Context object provided: Context object contains 'Task' when state is not "
            "a Task state with a '.sync' or '.waitForTaskToken' service integration pattern")
    execution = ctx.get("Execution", {})
    if "Id" in execution and not isinstance(execution["Id"], str):
        raise RequestRejected("Invalid Context object provided: Execution.Id must be a string")
    return ctx


def test_state(request: Mapping[str, Any]) -> dict[str, Any]:
    """Run the request's state once and answer as TestState does (status, output, error, cause,
    nextState)."""
    name, state, top_language = _pick_state(request)
    mock_result = _check(request, state)
    data = _json(request.get("input") or "{}", "Invalid input: not valid JSON")
    variables = _json(request.get("variables") or "{}", "Invalid variables: not valid JSON")
    config = request.get("stateConfiguration") or {}
    info = ExecutionInfo(name="test-state", state_machine_name="TestStateMachine",
                         start_time=_EPOCH, input=data, state_machine_type="EXPRESS",
                         invocation="StartSyncExecution", execution_uuid=None)
    clock = Clock(_EPOCH)
    history = History(clock)
    env = Env(info, history, lambda: "00000000-0000-4000-8000-000000000000", lambda: 0.5,
              top_language)
    frame = Frame({name: state}, name, ChainMap(dict(variables)), history)
    entered = history.state_entered(state["Type"], name, jsontext.dumps(data), first=True)
    run = StateRun(env, frame, name, state, data, clock.iso, entered,
                   state.get("QueryLanguage", top_language), retry_count=0,
                   retries_done=int(config.get("retrierRetryCount", 0)))
    if request.get("inspectionLevel") in ("DEBUG", "TRACE"):
        run.inspection = {}
        run.note("input", data)
        if "variables" in request:
            run.note("variables", variables)
    override = _context(request, state)
    if override is not None:
        run.context = override
    answer = _drive(run, _steps(run, request, mock_result), request.get("mock"))
    if run.inspection is not None:
        answer["inspectionData"] = run.inspection
    return answer


def _steps(run: StateRun, request: Mapping[str, Any], mock_result: Any) -> Steps:
    kind = run.state["Type"]
    if kind not in ("Map", "Parallel"):
        return FAMILIES[kind](run)
    mock = request["mock"]
    failures = int((request.get("stateConfiguration") or {}).get("mapIterationFailureCount", 0))

    def attempt(_: int) -> Steps:
        if kind == "Map":
            data = run.raw_input if run.jsonata else run.input_path()
            run.note("maxConcurrency",
                     map_state.number_field(run, data, "MaxConcurrency", int) or 0)
            reader_data = (request.get("stateConfiguration") or {}).get("mapItemReaderData")
            if "errorOutput" in mock and "ItemReader" in run.state:
                raise _mock_failure(mock)
            items = _json(reader_data, "Invalid mapItemReaderData") if reader_data is not None \
                else map_state.items_of(run, data)
            if failures > len(items):
                raise RequestRejected("Map iteration failure count must be less than or equal "
                                      "to the number of Map iterations")
            if "errorOutput" in mock:
                raise _mock_failure(mock)
            count, pct = map_state.tolerance(run, data)
            if failures and (count is not None or pct is not None) \
                    and not map_state.tolerated(failures, len(items), count, pct):
                raise StateFailure(*map_state.THRESHOLD_EXCEEDED)
        elif "errorOutput" in mock:
            raise _mock_failure(mock)
        output, assigned = run.finish(mock_result)
        return run.outcome(output, assigned)
        yield

    return with_retry_and_catch(run, attempt)


def _mock_failure(mock: Mapping[str, Any]) -> StateFailure:
    error_output = mock["errorOutput"]
    return StateFailure(error_output.get("error"), error_output.get("cause"))


def _drive(run: StateRun, steps: Steps, mock: Mapping[str, Any] | None) -> dict[str, Any]:
    reply: Any = None
    command: Any = None
    while True:
        try:
            out = steps.send(reply)
        except StopIteration as done:
            return _answer(done.value, run.last_failure)
        except StateFailure as failed:
            return {"status": "FAILED", "error": failed.error, "cause": failed.cause}
        reply = None
        if not isinstance(out, Block):
            command = out  # a state alone has one command outstanding at a time
            continue
        if isinstance(command, InvokeTask):
            if mock is not None and "errorOutput" in mock:
                mocked = _mock_failure(mock)
                reply = TaskResult(command.token, _EPOCH, failed=True, error=mocked.error,
                                   cause=mocked.cause)
            else:
                reply = TaskResult(command.token, _EPOCH,
                                   output=_json(mock["result"], "") if mock else None)
        elif run.state["Type"] == "Wait":
            reply = TimerFired(command.token, command.fire_at)
        else:
            # Only a retrier asks for a timer here: the state would be retried.
            last = run.last_failure or StateFailure(None, None)
            return {"status": "RETRIABLE", "error": last.error, "cause": last.cause}


def _answer(outcome: Outcome, failure: StateFailure | None) -> dict[str, Any]:
    answer: dict[str, Any] = {"status": "SUCCEEDED", "output": jsontext.dumps(outcome.output)}
    if outcome.next is not None:
        answer["nextState"] = outcome.next
    if failure is not None and outcome.caught:
        answer.update(status="CAUGHT_ERROR", error=failure.error, cause=failure.cause)
    return answer
