"""What every state family shares while a state runs (pure).

``Env`` is one execution's services (history, virtual clock, injected uuid/random);
``Frame`` one running branch (the top level, a Parallel branch, a Map iteration);
``StateRun`` one state's visit: its query language, input, context object and the helpers
that evaluate its fields in JSONPath or JSONata.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventbus.errors import HistoryLimitReached, StatesError
from eventbus.workflows import jsonata, jsontext, paths
from eventbus.workflows.commands import BLOCK, Block, Command
from eventbus.workflows.context import ExecutionInfo, state_context
from eventbus.workflows.history import History
from eventbus.workflows.limits import MAX_PAYLOAD_BYTES

__all__ = [
    "Branch",
    "Env",
    "Frame",
    "Outcome",
    "StateFailure",
    "StateRun",
    "Steps",
    "awaiting",
    "request",
]

JSONPATH = "JSONPath"
JSONATA = "JSONata"

#: Errors ``States.ALL`` does not match: AWS makes them terminal.
TERMINAL_ERRORS = frozenset({"States.Runtime", "States.DataLimitExceeded"})


class StateFailure(Exception):
    """A state failed with ``error``/``cause``; Retry and Catch see it, else the branch fails."""

    def __init__(self, error: str | None, cause: str | None) -> None:
        self.error = error
        self.cause = cause
        super().__init__(f"{error}: {cause}")

    def error_output(self) -> dict[str, Any]:
        """``{"Error", "Cause"}`` as Catch passes it on; absent fields are left out."""
        out: dict[str, Any] = {}
        if self.error is not None:
            out["Error"] = self.error
        if self.cause is not None:
            out["Cause"] = self.cause
        return out


@dataclass(slots=True)
class Env:
    info: ExecutionInfo
    history: History
    uuid: Callable[[], str]
    random: Callable[[], float]
    top_language: str = JSONPATH
    execution_context: dict[str, Any] | None = None
    generators: jsonata.Generators = jsonata.SYSTEM

    def __post_init__(self) -> None:
        # The same for every state: built once (the values are never mutated in place).
        self.execution_context = self.info.execution_context()
        # JSONata's $random, $uuid, $now and $millis draw from the execution, not the system.
        self.generators = jsonata.Generators(
            random=self.random, uuid=self.uuid,
            clock=lambda: int(self.history.clock.now.timestamp() * 1000))

    @property
    def now(self) -> datetime:
        return self.history.now


@dataclass(slots=True)
class Frame:
    """One running branch: its states, its variable scope and (for Map) its item."""

    states: Mapping[str, Any]
    start_at: str
    variables: ChainMap[str, Any]
    history: History
    first: bool = False
    #: The state being run and its input: where a redrive starts the branch again.
    at: tuple[str, Any] | None = None
    #: That state's Parallel branches or Map iterations (by index) and the outputs of those
    #: that succeeded, for a redrive to run only the others again (see ``rerun``).
    branches: dict[int, Frame] = field(default_factory=dict)
    outputs: dict[int, Any] = field(default_factory=dict)
    #: The frame this one redrives: read by its first state, if a Parallel or a Map.
    resume: Frame | None = None


@dataclass(slots=True)
class Outcome:
    """How a state ended: its output and the next state's name (None at the branch's end)."""

    output: Any
    next: str | None
    assigned: dict[str, Any] | None = None
    caught: bool = False


Steps = Generator[Command | Block, Any, Outcome]
#: A running branch: yields commands and BLOCK, returns the branch's output.
Branch = Generator[Command | Block, Any, Any]


def request(command: Command) -> Generator[Command | Block, Any, Any]:
    """Issue ``command`` and wait for its reply (replies for other tokens are stale: dropped)."""
    yield command
    return (yield from awaiting(command.token))


def awaiting(token: str) -> Generator[Block, Any, Any]:
    """Wait for the next reply carrying ``token`` (others are stale: dropped)."""
    while True:
        reply = yield BLOCK
        if getattr(reply, "token", None) == token:
            return reply


@dataclass(slots=True)
class StateRun:
    env: Env
    frame: Frame
    name: str
    state: Mapping[str, Any]
    raw_input: Any
    entered_time: str
    entered_id: int
    language: str
    retry_count: int | None = None
    #: Retries already made before this visit (TestState's ``retrierRetryCount``).
    retries_done: int = 0
    #: The failure Retry/Catch last handled in this visit.
    last_failure: StateFailure | None = None
    #: TestState's inspection data, collected when asked for (None: not collected).
    inspection: dict[str, Any] | None = None
    _context: dict[str, Any] | None = None

    @property
    def context(self) -> dict[str, Any]:
        """The context object, built when a field first reads it."""
        if self._context is None:
            self._context = state_context(self.env.info, self.name, self.entered_time,
                                          retry_count=self.retry_count,
                                          execution=self.env.execution_context)
        return self._context

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        """TestState's caller may give the context object whole."""
        self._context = value

    @property
    def jsonata(self) -> bool:
        return self.language == JSONATA

    @property
    def variables(self) -> Mapping[str, Any]:
        return self.frame.variables

    # -- JSONata -------------------------------------------------------------------------
    def bindings(self, **states: Any) -> dict[str, Any]:
        """Variables plus ``$states`` (input, context and, when given, result/errorOutput)."""
        bound: dict[str, Any] = dict(self.frame.variables)
        bound["states"] = {"input": self.raw_input, "context": self.context, **states}
        return bound

    def resolve(self, value: Any, field_name: str, **states: Any) -> Any:
        return jsonata.resolve(value, self.bindings(**states), field_name,
                               generators=self.env.generators)

    # -- JSONPath ------------------------------------------------------------------------
    def read(self, path: str, data: Any) -> Any:
        return paths.read_path(path, data, context=self.context, variables=self.frame.variables)

    def payload(self, template: Any, data: Any, context: Any = None) -> Any:
        return paths.evaluate_payload(
            template, data, context=self.context if context is None else context,
            variables=self.frame.variables, uuid=self.env.uuid, random=self.env.random,
        )

    def note(self, stage: str, value: Any) -> Any:
        """Keep ``value`` as TestState's inspection data for ``stage`` (when it is asked for)."""
        if self.inspection is not None:
            self.inspection[stage] = value if isinstance(value, (int, float, dict)) \
                and stage in ("maxConcurrency", "toleratedFailureCount",
                              "toleratedFailurePercentage", "errorDetails") \
                else jsontext.dumps(value)
        return value

    def input_path(self) -> Any:
        if "InputPath" not in self.state:
            return self.note("afterInputPath", self.raw_input)
        return self.note("afterInputPath", paths.apply_input_path(
            self.state["InputPath"], self.raw_input, context=self.context,
            variables=self.frame.variables))

    def parameters(self, data: Any) -> Any:
        """The ``Parameters`` payload over the effective input (the input without it)."""
        if "Parameters" in self.state:
            data = self.payload(self.state["Parameters"], data)
        return self.note("afterParameters", data)

    def arguments(self) -> Any:
        """JSONata ``Arguments`` (the state input without it)."""
        if "Arguments" not in self.state:
            return self.raw_input
        return self.note("afterArguments", self.resolve(self.state["Arguments"], "Arguments"))

    def finish_jsonpath(self, result: Any, *, selector: bool = True) -> tuple[Any, dict[str, Any]]:
        """ResultSelector, Assign, ResultPath and OutputPath over a state's result."""
        if selector and "ResultSelector" in self.state:
            result = self.payload(self.state["ResultSelector"], result)
        self.note("afterResultSelector", result)
        assigned = self.payload(self.state["Assign"], result) if "Assign" in self.state else {}
        combined = paths.apply_result_path(self.state.get("ResultPath", "$"), self.raw_input,
                                           result) if "ResultPath" in self.state else result
        self.note("afterResultPath", combined)
        return self.output_path(combined), assigned

    def output_path(self, data: Any) -> Any:
        if "OutputPath" not in self.state:
            return data
        return paths.apply_output_path(self.state["OutputPath"], data,
                                       context=self.context, variables=self.frame.variables)

    def finish_jsonata(self, default: Any, **states: Any) -> tuple[Any, dict[str, Any]]:
        """Output (``default`` when absent) and Assign, both over the variables before the state."""
        assigned = self.resolve(self.state["Assign"], "Assign", **states) \
            if "Assign" in self.state else {}
        output = self.resolve(self.state["Output"], "Output", **states) \
            if "Output" in self.state else default
        return output, assigned

    def finish(self, result: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        if self.state.get("Type") == "Task":
            self.note("result", result)
        if self.jsonata:
            return self.finish_jsonata(result, result=result)
        return self.finish_jsonpath(result, **kwargs)

    # -- ending ----------------------------------------------------------------------------
    def outcome(self, output: Any, assigned: dict[str, Any] | None,
                next_name: str | None = None) -> Outcome:
        nxt = next_name if next_name is not None else self.state.get("Next")
        return Outcome(output, None if self.state.get("End") and next_name is None else nxt,
                       assigned or None)

    def failure(self, err: StatesError) -> StateFailure:
        """An evaluation error as AWS reports it: prefixed with the state and its entry event."""
        if isinstance(err, HistoryLimitReached):
            return StateFailure(err.error, err.cause)
        cause = (f"An error occurred while executing the state '{self.name}' (entered at the "
                 f"event id #{self.entered_id}). {err.cause}")
        if err.error == "States.QueryEvaluationError":
            location = getattr(err, "location", None) or _location(err.cause or "")
            details = {"cause": cause, "error": err.error, "state": self.name}
            if location:
                details["location"] = location
            history = self.frame.history
            # AWS links it to what the state's entry followed (to the entry for a Wait state).
            entered = history.events[self.entered_id - 1]
            previous = self.entered_id if self.state.get("Type") == "Wait" \
                else entered["previousEventId"]
            history.add("EvaluationFailed", details, previous=previous)
        return StateFailure(err.error, cause)


def _location(cause: str) -> str | None:
    marker = "specified for the field '"
    start = cause.find(marker)
    if start < 0:
        return None
    start += len(marker)
    return cause[start:cause.find("'", start)]


def checked_text(name: str, value: Any) -> str:
    """``value``'s JSON text, once it is known to be within the 256 KiB payload limit."""
    raw = jsontext.dumps_bytes(value)
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise StateFailure(
            "States.DataLimitExceeded",
            f"The state/task '{name}' returned a result with a size exceeding the maximum "
            "number of bytes service limit.",
        )
    return raw.decode()
