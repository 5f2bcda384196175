"""The graph checks of a state machine that passed schema validation: every transition names a
state of its own container, every state is reachable from its StartAt, and the machine has a
terminal state.

Containers are the machine itself, each Parallel branch and each Map's ItemProcessor (or
Iterator); a transition never leaves its container.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from eventbus.workflows.diagnostics import Diagnostic

__all__ = ["check_transitions"]

MISSING_TARGET = "MISSING_TRANSITION_TARGET"
MISSING_END = "MISSING_END_STATE"


def _targets(state: Mapping[str, Any], location: str) -> Iterator[tuple[str, str]]:
    """Each (target state name, location of the field naming it) of one state."""
    if isinstance(state.get("Next"), str):
        yield state["Next"], f"{location}/Next"
    for i, rule in enumerate(state.get("Choices") or ()):
        if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
            yield rule["Next"], f"{location}/Choices[{i}]/Next"
    if isinstance(state.get("Default"), str):
        yield state["Default"], f"{location}/Default"
    for i, catcher in enumerate(state.get("Catch") or ()):
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            yield catcher["Next"], f"{location}/Catch[{i}]/Next"


def _is_terminal(state: Mapping[str, Any]) -> bool:
    return state.get("End") is True or state.get("Type") in ("Succeed", "Fail")


def _children(state: Mapping[str, Any], location: str) -> Iterator[tuple[Mapping[str, Any], str]]:
    for i, branch in enumerate(state.get("Branches") or ()):
        yield branch, f"{location}/Branches[{i}]"
    for key in ("ItemProcessor", "Iterator"):
        if isinstance(state.get(key), dict):
            yield state[key], f"{location}/{key}"


def _container(
    container: Mapping[str, Any], prefix: str, found: list[Diagnostic], *, top: bool
) -> None:
    states: Mapping[str, Any] = container["States"]
    start = container["StartAt"]
    if start not in states:
        found.append(
            Diagnostic(MISSING_TARGET, f"Missing 'Next' target: {start}", f"{prefix}/StartAt")
        )
    edges: dict[str, list[str]] = {}
    for name, state in states.items():
        edges[name] = []
        for target, where in _targets(state, f"{prefix}/States/{name}"):
            if target in states:
                edges[name].append(target)
            else:
                found.append(Diagnostic(MISSING_TARGET, f"Missing 'Next' target: {target}", where))
    if top and not any(_is_terminal(state) for state in states.values()):
        # Without a way to end, AWS reports only this; it does not look for unreachable states.
        found.append(Diagnostic(MISSING_END, "Workflow has no terminal state", None))
    else:
        reached = set()
        pending = [start] if start in states else []
        while pending:
            name = pending.pop()
            if name not in reached:
                reached.add(name)
                pending.extend(edges[name])
        for name in states:
            if name not in reached:
                found.append(
                    Diagnostic(
                        MISSING_TARGET,
                        f'State "{name}" is not reachable.',
                        f"{prefix}/States/{name}",
                    )
                )
    for name, state in states.items():
        for child, where in _children(state, f"{prefix}/States/{name}"):
            _container(child, where, found, top=False)


def check_transitions(machine: Mapping[str, Any]) -> list[Diagnostic]:
    """Every graph problem of a schema-valid machine, in AWS's order."""
    found: list[Diagnostic] = []
    _container(machine, "", found, top=True)
    return found
