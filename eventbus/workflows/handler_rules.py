"""Definition-time checks of the error handlers of Task, Parallel and Map states: ``Retry``
retriers and ``Catch`` catchers."""

from __future__ import annotations

from typing import Any

from eventbus.workflows import schema
from eventbus.workflows.diagnostics import Checker

__all__ = ["check_catchers", "check_retriers"]


def _error_equals(checker: Checker, value: Any, location: str) -> None:
    if not checker.expect_type(value, list, location):
        return
    if not value:
        checker.fail(location, "Value cannot be empty")
    for i, name in enumerate(value):
        checker.expect_type(name, str, f"{location}[{i}]")


def _handlers(checker: Checker, value: Any, location: str) -> list[tuple[str, Any]]:
    """Each handler object with its location. `States.ALL` must be alone in the last handler's
    ErrorEquals; AWS reports each misplaced one at its own index."""
    if not checker.expect_type(value, list, location):
        return []
    handlers = []
    for i, handler in enumerate(value):
        where = f"{location}[{i}]"
        if not checker.expect_type(handler, dict, where):
            continue
        handlers.append((where, handler))
        errors = handler.get("ErrorEquals")
        if not isinstance(errors, list):
            continue
        misplaced = len(errors) > 1 or i < len(value) - 1
        for j, name in enumerate(errors):
            if name == "States.ALL" and misplaced:
                checker.fail(
                    f"{where}/ErrorEquals[{j}]", "States.ALL must appear alone and at end of list"
                )
    return handlers


def check_retriers(checker: Checker, value: Any, location: str) -> None:
    """A `Retry` array: ErrorEquals required, numbers in range, a known jitter strategy."""
    for where, retrier in _handlers(checker, value, location):
        checker.require(retrier, ("ErrorEquals",), where)
        for key, item in retrier.items():
            if key not in schema.RETRIER_FIELDS:
                checker.fail(where, f"Field '{key}' is not supported")
            elif key == "ErrorEquals":
                _error_equals(checker, item, f"{where}/ErrorEquals")
            elif key == "JitterStrategy" and item not in ("FULL", "NONE"):
                checker.fail(
                    f"{where}/JitterStrategy", "Value should be one of the following: [FULL, NONE]"
                )
            elif key in schema.RETRIER_RANGES:
                _number(checker, item, f"{where}/{key}", schema.RETRIER_RANGES[key])


def _number(
    checker: Checker, value: Any, location: str, rule: tuple[float, float | None, bool]
) -> None:
    low, high, integer = rule
    number = isinstance(value, int) or (not integer and isinstance(value, float))
    if isinstance(value, bool) or not number:
        checker.fail(location, f"Expected value of type [{'INTEGER' if integer else 'NUMBER'}]")
    elif value < low:
        checker.fail(location, f"Minimum value is {low:g}")
    elif high is not None and value > high:
        checker.fail(location, f"Maximum value is {high:g}")


def check_catchers(checker: Checker, value: Any, location: str, language: str) -> None:
    """A `Catch` array: ErrorEquals and Next required, ResultPath (JSONPath) or Output
    (JSONata), Assign in either."""
    refused = schema.JSONPATH_ONLY if language == "JSONata" else schema.JSONATA_ONLY
    for where, catcher in _handlers(checker, value, location):
        checker.require(catcher, ("ErrorEquals", "Next"), where)
        for key, item in catcher.items():
            if key not in schema.CATCHER_FIELDS:
                checker.fail(where, f"Field '{key}' is not supported")
            elif key in refused:
                checker.fail(where, schema.language_field_message(language, key))
            elif key == "ErrorEquals":
                _error_equals(checker, item, f"{where}/ErrorEquals")
            elif key == "Next":
                checker.expect_type(item, str, f"{where}/Next")
            elif key == "ResultPath":
                checker.check_reference_path(key, item, f"{where}/ResultPath")
            elif key == "Assign":
                checker.check_assign(item, f"{where}/Assign", language)
