"""Input and output processing of JSONPath-mode states (pure: no I/O).

The order Step Functions applies them in, each a function here::

    InputPath -> Parameters / ItemSelector -> (the state's work) -> ResultSelector
              -> ResultPath (into the state's input) -> OutputPath

* ``apply_input_path`` / ``apply_output_path``: a path selects part of the document; ``null``
  in the definition (``None``) gives ``{}``, an absent field is ``"$"`` (everything).
* ``evaluate_payload``: a payload template (Parameters, ResultSelector, ItemSelector,
  Arguments) whose keys ending in ``.$`` are replaced by the value of their path or intrinsic
  function call, at any depth, the key losing its ``.$``.
* ``apply_result_path``: places the result into a copy of the state's input; ``null`` keeps
  the input, ``"$"`` replaces it, ``"$.a.b"`` sets ``a.b``, creating missing objects.

Values are never modified in place: results may share unchanged parts with their inputs, so
callers treat every value as immutable too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from eventbus.errors import InvalidExpression, StatesError
from eventbus.workflows.intrinsics import evaluate_intrinsic, is_intrinsic
from eventbus.workflows.query import MISSING, Query, compile_query, read, to_json

__all__ = [
    "apply_input_path",
    "apply_output_path",
    "apply_result_path",
    "evaluate_payload",
    "read_path",
]


def read_path(
    path: str,
    data: Any,
    *,
    context: Any,
    variables: Mapping[str, Any],
    field: str | None = None,
) -> Any:
    """The value ``path`` selects: from ``data`` (``$...``), the context object (``$$...``) or
    a variable (``$name...``). A path with a wildcard, slice, union, filter or ``..`` gives
    the list of its matches; a path that selects nothing raises ``StatesError`` with AWS's
    text (naming ``field`` when given: ``ErrorPath``, ``value.$``, ...)."""
    return read(_compile(path), data, context=context, variables=variables, field=field)


def apply_input_path(
    path: str | None, data: Any, *, context: Any, variables: Mapping[str, Any]
) -> Any:
    """The state's effective input: ``InputPath`` applied to its raw input."""
    return _select(path, data, context=context, variables=variables)


def apply_output_path(
    path: str | None, data: Any, *, context: Any, variables: Mapping[str, Any]
) -> Any:
    """The state's output: ``OutputPath`` applied to the result placed by ``ResultPath``."""
    return _select(path, data, context=context, variables=variables)


def _select(path: str | None, data: Any, *, context: Any, variables: Mapping[str, Any]) -> Any:
    if path is None:
        return {}
    if path == "$":
        return data
    return read_path(path, data, context=context, variables=variables)


def apply_result_path(path: str | None, state_input: Any, result: Any) -> Any:
    """``result`` placed into ``state_input`` as ``ResultPath`` says; the input is not changed.

    A step through something that is not an object (or, for ``[n]``, not a long enough
    array) fails with ``States.ResultPathMatchFailure``.
    """
    if path is None:
        return state_input
    if path == "$":
        return result
    query = _compile(path)
    if query.root != "input" or not query.definite:
        raise StatesError(
            "States.ResultPathMatchFailure",
            f"ResultPath {path!r} must be a reference path into the state's input",
        )
    return _place(state_input, query.steps, 0, result)


def _place(node: Any, steps: tuple[Any, ...], i: int, result: Any) -> Any:
    if i == len(steps):
        return result
    step = steps[i]
    if isinstance(step, str) and isinstance(node, dict):
        child = node.get(step, MISSING)
        if child is MISSING:
            child = {}
        copy = dict(node)
        copy[step] = _place(child, steps, i + 1, result)
        return copy
    if isinstance(step, int) and isinstance(node, list) and -len(node) <= step < len(node):
        copy_list = list(node)
        copy_list[step] = _place(node[step], steps, i + 1, result)
        return copy_list
    raise StatesError(
        "States.ResultPathMatchFailure",
        f'Unable to apply step "{step}" to input {to_json(node)}',
    )


def evaluate_payload(
    template: Any,
    data: Any,
    *,
    context: Any,
    variables: Mapping[str, Any],
    uuid: Callable[[], str],
    random: Callable[[], float],
) -> Any:
    """A payload template with every ``key.$`` replaced by ``key`` and its evaluated value."""
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                out[key[:-2]] = _evaluate_field(key, value, data, context, variables, uuid, random)
            else:
                out[key] = evaluate_payload(
                    value, data, context=context, variables=variables, uuid=uuid, random=random
                )
        return out
    if isinstance(template, list):
        return [
            evaluate_payload(
                v, data, context=context, variables=variables, uuid=uuid, random=random
            )
            for v in template
        ]
    return template


def _evaluate_field(
    key: str,
    value: str,
    data: Any,
    context: Any,
    variables: Mapping[str, Any],
    uuid: Callable[[], str],
    random: Callable[[], float],
) -> Any:
    if is_intrinsic(value):
        return evaluate_intrinsic(
            value, data, context=context, variables=variables, uuid=uuid, random=random, field=key
        )
    return read_path(value, data, context=context, variables=variables, field=key)


def _compile(path: str) -> Query:
    try:
        return compile_query(path)
    except InvalidExpression as exc:
        # Validation refuses such a definition; this is for a path that bypassed it.
        raise StatesError("States.Runtime", f"Invalid path '{path}' : {exc.reason}") from None
