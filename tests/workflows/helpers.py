"""Building definitions and reading results in the workflow tests."""

from __future__ import annotations

from typing import Any

import orjson

from eventbus.workflows import run_local


def machine(states: dict[str, Any], start_at: str | None = None, **top: Any) -> str:
    """Definition text with ``states``, starting at the first one unless told otherwise."""
    definition = {"StartAt": start_at or next(iter(states)), "States": states, **top}
    return orjson.dumps(definition).decode()


def run(states: dict[str, Any], data: Any = None, **kwargs: Any) -> dict[str, Any]:
    top = kwargs.pop("top", {})
    return run_local(machine(states, **top), orjson.dumps({} if data is None else data).decode(),
                     **kwargs)


def output(result: dict[str, Any]) -> Any:
    assert result["status"] == "SUCCEEDED", result
    return orjson.loads(result["output"])


def types(result: dict[str, Any]) -> list[str]:
    return [e["type"] for e in result["events"]]
