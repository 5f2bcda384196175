"""Adapters between the conformance runner in ../shared/conformance and eventbus's public API.

Use from the project root, e.g.
``python ../shared/conformance/run_patterns.py --transformer bench/adapters.py:transform``.
"""

from __future__ import annotations

from typing import Any


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
