"""Adapters from the shared conformance runner to eventbus's public API.

    python ../shared/conformance/run_patterns.py --matcher bench/adapters.py:match

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
