"""JSONata evaluation as Step Functions runs it (pure apart from the injected generators)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jsonata as _jsonata  # type: ignore[import-untyped]

from eventbus.errors import StatesError

__all__ = ["evaluate", "is_expression", "resolve"]


class _Undefined(StatesError):
    """An expression returned nothing (JSONata ``undefined``)."""


@lru_cache(maxsize=4096)
def _compile(expression: str) -> Any:
    try:
        return _jsonata.Jsonata(expression)
    except Exception as err:
        raise StatesError("States.QueryEvaluationError", str(err)) from err


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def evaluate(expression: str, bindings: Mapping[str, Any]) -> Any:
    """The value of ``expression`` with ``$states`` and the variables bound; raises
    StatesError("States.QueryEvaluationError") on an error or an undefined result."""
    compiled = _compile(expression)
    try:
        result = compiled.evaluate(None, dict(bindings))
    except Exception as err:
        raise StatesError(
            "States.QueryEvaluationError",
            f"The JSONata expression '{expression}' specified for the field '{{field}}' "
            f"threw an error during evaluation. {err}",
        ) from err
    if result is None:
        raise _Undefined(
            "States.QueryEvaluationError",
            f"The JSONata expression '{expression}' specified for the field '{{field}}' "
            "returned nothing (undefined).",
        )
    return result


def resolve(value: Any, bindings: Mapping[str, Any], field: str = "") -> Any:
    """Evaluate every ``{% %}`` string inside ``value``; ``field`` names it in error texts."""
    if is_expression(value):
        try:
            return evaluate(value[2:-2].strip(), bindings)
        except StatesError as err:
            raise StatesError(err.error, (err.cause or "").replace("{field}", field)) from err
    if isinstance(value, dict):
        return {
            k: resolve(v, bindings, f"{field}/{k}" if field else k) for k, v in value.items()
        }
    if isinstance(value, list):
        return [resolve(v, bindings, f"{field}[{i}]") for i, v in enumerate(value)]
    return value
