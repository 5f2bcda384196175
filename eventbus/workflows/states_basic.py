"""Pass, Choice, Wait, Succeed and Fail states (pure)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from eventbus.errors import StatesError
from eventbus.workflows import choice, jsontext, paths
from eventbus.workflows.commands import StartTimer
from eventbus.workflows.runtime import Outcome, StateFailure, StateRun, Steps, request

__all__ = ["run_choice", "run_fail", "run_pass", "run_succeed", "run_wait"]


def run_pass(run: StateRun) -> Steps:
    if run.jsonata:
        output, assigned = run.finish_jsonata(run.raw_input)
        return run.outcome(output, assigned)
        yield  # a generator like every state family
    # A Result replaces the effective input, which is then not computed.
    result = run.note("result", run.state["Result"]) if "Result" in run.state \
        else run.parameters(run.input_path())
    output, assigned = run.finish_jsonpath(result, selector=False)
    return run.outcome(output, assigned)


def run_succeed(run: StateRun) -> Steps:
    if run.jsonata:
        output, _ = run.finish_jsonata(run.raw_input)
    else:
        output = run.output_path(run.input_path())
    return Outcome(output, None)
    yield


def run_fail(run: StateRun) -> Steps:
    def field(name: str) -> Any:
        if run.jsonata:
            return run.resolve(run.state[name], name) if name in run.state else None
        if name + "Path" in run.state:
            path = run.state[name + "Path"]
            if path.startswith("States."):
                return run.payload({"v.$": path}, run.raw_input)["v"]
            return paths.read_path(path, run.raw_input, context=run.context,
                                   variables=run.variables, field=name + "Path")
        return run.state.get(name)

    if not run.jsonata:
        run.input_path()
    raise StateFailure(field("Error"), field("Cause"))
    yield


def run_choice(run: StateRun) -> Steps:
    if run.jsonata:
        bindings = run.bindings()
        chosen = choice.select_choice(run.state, run.raw_input, context=run.context,
                                      variables=run.variables, jsonata_bindings=bindings,
                                      generators=run.env.generators)
        source = chosen if chosen is not None else run.state
        next_name = chosen["Next"] if chosen is not None else run.state.get("Default")
        if next_name is None:
            raise choice.no_choice_matched()
        assigned = run.resolve(source["Assign"], "Assign") if "Assign" in source else {}
        output = run.resolve(source["Output"], "Output") if "Output" in source \
            else run.raw_input
        return run.outcome(output, assigned, next_name)
        yield
    data = run.input_path()
    chosen = choice.select_choice(run.state, data, context=run.context, variables=run.variables)
    if chosen is not None:
        next_name, source = chosen["Next"], chosen
    elif "Default" in run.state:
        next_name, source = run.state["Default"], run.state
    else:
        raise choice.no_choice_matched()
    assigned = run.payload(source["Assign"], data) if "Assign" in source else {}
    return run.outcome(run.output_path(data), assigned, next_name)


_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)


def parse_timestamp(text: Any) -> datetime | None:
    """An RFC 3339 date-time with an offset, or None."""
    if not isinstance(text, str) or not _TIMESTAMP.match(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _wait_jsonpath(run: StateRun, data: Any) -> datetime:
    state = run.state
    if "Seconds" in state:
        return run.env.now + timedelta(seconds=int(state["Seconds"]))
    if "Timestamp" in state:
        moment = parse_timestamp(state["Timestamp"])
        if moment is None:
            raise StatesError("States.Runtime",
                              f"The Timestamp field is not a valid timestamp: {state['Timestamp']}")
        return moment
    if "SecondsPath" in state:
        path = state["SecondsPath"]
        try:
            value = run.read(path, data)
        except StatesError as err:
            raise StatesError("States.Runtime", "The SecondsPath parameter does not reference an "
                              f"input value: {path}") from err
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise StatesError("States.Runtime", "The SecondsPath parameter cannot be parsed as a "
                              f"long value: {path} == {_plain(value)}")
        return run.env.now + timedelta(seconds=value)
    path = state["TimestampPath"]
    try:
        value = run.read(path, data)
    except StatesError as err:
        raise StatesError("States.Runtime", "The TimestampPath parameter does not reference an "
                          f"input value: {path}") from err
    moment = parse_timestamp(value)
    if moment is None:
        raise StatesError(
            "States.Runtime", "The TimestampPath parameter does not reference a valid ISO-8601 "
            f"extended offset date-time format string: {path} == {_plain(value)}")
    return moment


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else jsontext.dumps(value)


def _wait_jsonata(run: StateRun) -> datetime:
    if "Seconds" in run.state:
        seconds = run.resolve(run.state["Seconds"], "Seconds")
        if isinstance(seconds, float) and seconds.is_integer():
            seconds = int(seconds)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise StatesError(
                "States.QueryEvaluationError",
                f"The Seconds field must be a non-negative integer but was: {_plain(seconds)}")
        return run.env.now + timedelta(seconds=seconds)
    value = run.resolve(run.state["Timestamp"], "Timestamp")
    moment = parse_timestamp(value)
    if moment is None:
        err = StatesError("States.QueryEvaluationError", "The Timestamp field cannot be parsed as "
                          f"an ISO-8601 extended offset date-time format string: {_plain(value)}")
        err.location = "Timestamp"  # type: ignore[attr-defined]
        raise err
    return moment


def run_wait(run: StateRun) -> Steps:
    data = run.raw_input if run.jsonata else run.input_path()
    fire_at = _wait_jsonata(run) if run.jsonata else _wait_jsonpath(run, data)
    if fire_at > run.env.now:
        yield from request(StartTimer(run.env.uuid(), fire_at))
    if run.jsonata:
        output, assigned = run.finish_jsonata(run.raw_input)
    else:
        assigned = run.payload(run.state["Assign"], data) if "Assign" in run.state else {}
        output = run.output_path(data)
    return run.outcome(output, assigned)
