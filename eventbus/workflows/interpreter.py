"""Running a branch of states, one state at a time (pure; suspends at each command).

A branch is the top level of a state machine, one Parallel branch or one Map iteration. It
runs as a generator: it yields a command (invoke a task, start a timer) and is resumed with
the driver's reply, so ``step.py`` can stop between any two commands and carry on later.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import Any

from eventbus.errors import StatesError
from eventbus.workflows import jsontext, map_state, parallel, states_basic, task
from eventbus.workflows.history import History
from eventbus.workflows.limits import MAX_TRANSITIONS
from eventbus.workflows.runtime import (
    JSONPATH,
    Branch,
    Env,
    Frame,
    StateFailure,
    StateRun,
    Steps,
    checked_text,
)

__all__ = ["FAMILIES", "run_branch"]

FAMILIES: dict[str, Callable[[StateRun], Steps]] = {
    "Pass": states_basic.run_pass,
    "Succeed": states_basic.run_succeed,
    "Fail": states_basic.run_fail,
    "Choice": states_basic.run_choice,
    "Wait": states_basic.run_wait,
    "Task": task.run_task,
    "Parallel": parallel.run_parallel,
    "Map": map_state.run_map,
}

#: Families whose evaluation errors their own Retry/Catch handling already turned into failures.
_SELF_HANDLING = frozenset({"Task", "Parallel", "Map"})


def run_branch(env: Env, frame: Frame, data: Any) -> Branch:
    """Run ``frame`` from its StartAt with ``data``; return the last state's output.

    Raises StateFailure when a state fails and nothing catches it.
    """
    name: str | None = frame.start_at
    first = frame.first
    text = jsontext.dumps(data)
    for _ in range(MAX_TRANSITIONS):
        assert name is not None
        state: Mapping[str, Any] = frame.states[name]
        state_type = state["Type"]
        frame.at = (name, data)
        if frame.branches or frame.outputs:  # an earlier Parallel's or Map's
            frame.branches, frame.outputs = {}, {}
        entered = frame.history.state_entered(state_type, name, text, first=first)
        first = False
        # States that can be retried show $$.State.RetryCount, from 0.
        run = StateRun(env, frame, name, state, data, frame.history.clock.iso, entered,
                       state.get("QueryLanguage", env.top_language),
                       0 if state_type in _SELF_HANDLING else None)
        try:
            outcome = yield from FAMILIES[state_type](run)
        except StatesError as err:
            if state_type in _SELF_HANDLING:
                raise
            raise run.failure(err) from err
        frame.resume = None  # only the first state of a redriven branch resumes
        # The output's text serves the exit event, the size check and the next state's entry.
        text = checked_text(name, outcome.output)
        if outcome.assigned:
            frame.variables.update(outcome.assigned)
        frame.history.state_exited(state_type, name, text, outcome.assigned)
        data = outcome.output
        if outcome.next is None:
            return data
        name = outcome.next
    raise StateFailure("States.Runtime", "The execution exceeded its maximum number of transitions")


def child_frame(parent: Frame, states: Mapping[str, Any], start_at: str, *,
                history: History | None = None) -> Frame:
    """A Parallel branch's or inline Map iteration's frame: it reads the variables of the
    frames around it and assigns its own. A child execution (a DISTRIBUTED Map's iteration,
    given its own ``history``) starts with no variables at all."""
    if history is not None:
        return Frame(states, start_at, ChainMap({}), history)
    return Frame(states, start_at, parent.variables.new_child(), parent.history)


def language_of(definition: Mapping[str, Any]) -> str:
    return str(definition.get("QueryLanguage", JSONPATH))
