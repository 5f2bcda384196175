"""Adapters from the shared conformance runner to eventbus's public API.

    python ../shared/conformance/run_patterns.py --matcher bench/adapters.py:match
    python ../shared/conformance/run_patterns.py --transformer bench/adapters.py:transform
    python ../shared/conformance/run_patterns.py --schedule bench/adapters.py:validate \
        --next-fire bench/adapters.py:next_times

Each adapter is a small function; other areas append theirs below.
"""

from __future__ import annotations

from typing import Any

import orjson

from eventbus.events import check_test_event
from eventbus.patterns import compile_pattern


def match(pattern: dict[str, Any] | str, event: Any) -> bool:
    """TestEventPattern: raises for an invalid pattern or an event TestEventPattern refuses.

    With the runner's ``--raw-json`` the event arrives as JSON text, as AWS received it.
    """
    compiled = compile_pattern(pattern)
    event = _parsed(event)
    if not isinstance(event, dict) or not _is_fragment(event, compiled.fields):
        check_test_event(event)
    return compiled.matches(event)


def _is_fragment(event: dict[str, Any], fields: frozenset[str]) -> bool:
    """Whether ``event`` is a bare fragment of an event, as moto's and event-ruler's cases use.

    TestEventPattern refuses events without the envelope fields; the corpus's unverified rows
    test the matcher on bare fragments that share at least one top-level field with the pattern.
    """
    return bool(fields & event.keys())


def match_fragment(pattern: dict[str, Any] | str, event: Any) -> bool:
    """The matcher alone: any JSON object is an event (what moto's and event-ruler's rows test)."""
    event = _parsed(event)
    if not isinstance(event, dict):
        check_test_event(event)
    return compile_pattern(pattern).matches(event)


def _parsed(event: Any) -> Any:
    return orjson.loads(event) if isinstance(event, str) else event


def transform(
    event: dict[str, Any],
    input_paths_map: dict[str, str],
    input_template: str,
    context: dict[str, Any] | None = None,
) -> str:
    """The payload eventbus delivers; raises where AWS refuses the settings or drops the output."""
    from eventbus.transform import apply_input_transformer

    ctx = context or {}
    return apply_input_transformer(
        event,
        input_paths_map,
        input_template,
        rule_name=ctx.get("rule_name", ""),
        rule_arn=ctx.get("rule_arn", ""),
        ingestion_time=ctx.get("ingestion_time"),
    )


def validate(expression: str) -> bool:
    """True for an expression eventbus accepts; raises ``InvalidScheduleError`` otherwise.

    The runner does not say which service a case is for, so this accepts the union: ``at()``
    (Scheduler only) as well as ``cron()`` and ``rate()`` (both).
    """
    from eventbus.schedule import parse_schedule

    parse_schedule(expression)
    return True


def next_times(expression: str, start_utc: Any, n: int) -> list[Any]:
    """The first ``n`` firings at or after ``start_utc`` (the runner counts a matching start)."""
    from datetime import timedelta

    from eventbus.schedule import parse_schedule

    just_before = start_utc - timedelta(microseconds=1)
    return parse_schedule(expression).upcoming(just_before, n)


def execute(definition: str, input: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """An ASL execution for ``run_asl.py --executor bench/adapters.py:execute``."""
    from eventbus.workflows import run_local

    options = options or {}
    result = run_local(
        definition,
        input,
        state_machine_type=options.get("state_machine_type", "STANDARD"),
        invocation=options.get("invocation", "StartExecution"),
    )
    # The runner names *StateEntered/Exited events by a top-level "name", as the corpus does.
    for event in result["events"]:
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        if details:
            event["name"] = details["name"]
    return result


def validate_asl(definition: str, state_machine_type: str = "STANDARD") -> None:
    """ValidateStateMachineDefinition for run_asl.py's invalid.jsonl (``--validator``).

    Re-raised with the first diagnostic's code: the runner accepts it for both APIs, where
    ``InvalidDefinition`` is CreateStateMachine's code only.
    """
    from eventbus.errors import InvalidDefinition
    from eventbus.workflows import validate_definition

    try:
        validate_definition(definition, state_machine_type)
    except InvalidDefinition as e:
        raise InvalidDefinition(e.message, e.diagnostics, code=e.diagnostics[0]["code"]) from e


def test_state(request: dict[str, Any]) -> dict[str, Any]:
    """TestState, for ``run_asl.py --test-state bench/adapters.py:test_state``."""
    from eventbus.workflows import test_state as run_test_state

    return run_test_state(request)
