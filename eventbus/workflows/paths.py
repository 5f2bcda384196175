"""Input and output processing of JSONPath-mode states (pure: no I/O).

The order Step Functions applies them in, each a function here::

    InputPath -> (Map: ItemsPath) -> Parameters / ItemSelector -> (the state's work)
              -> ResultSelector -> ResultPath (into the state's input) -> OutputPath

* ``apply_input_path`` / ``apply_output_path``: a path selects part of the document; ``null``
  in the definition (``None``) gives ``{}``, an absent field is ``"$"`` (everything).
* ``apply_items_path``: the array a Map state iterates.
* ``evaluate_payload``: a payload template (Parameters, ResultSelector, ItemSelector,
  Arguments) whose keys ending in ``.$`` are replaced by the value of their path or intrinsic
  function call, at any depth, the key losing its ``.$``.
* ``apply_result_path``: places the result into a copy of the state's input; ``null`` keeps
  the input, ``"$"`` replaces it, ``"$.a.b"`` sets ``a.b``, creating missing objects.

``read_path`` reads any path (``*Path`` fields, Choice variables); ``is_path``,
``is_reference_path`` and ``invalid_payload_fields`` are the checks definition validation needs.

Values are never modified in place: results may share unchanged parts with their inputs, so
callers treat every value as immutable too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from eventbus.errors import InvalidExpression, StatesError
from eventbus.workflows.intrinsics import evaluate_intrinsic, is_intrinsic, parse_intrinsic
from eventbus.workflows.javatext import to_json
from eventbus.workflows.query import MISSING, Query, compile_query, read

__all__ = [
    "apply_input_path",
    "apply_items_path",
    "apply_output_path",
    "apply_result_path",
    "evaluate_payload",
    "invalid_payload_fields",
    "is_path",
    "is_reference_path",
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


def apply_items_path(
    path: str | None, data: Any, *, context: Any, variables: Mapping[str, Any]
) -> list[Any]:
    """The items a Map state iterates: ``ItemsPath`` (absent: ``"$"``) must select an array."""
    items = _select("$" if path is None else path, data, context=context, variables=variables)
    if not isinstance(items, list):
        shown = "$" if path is None else _compile(path).display
        raise StatesError("States.Runtime", f'Reference path "{shown}" must point to array.')
    return items


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
    if query.root != "input" or not query.definite or query.merges:
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
    """A payload template with every ``key.$`` replaced by ``key`` and its evaluated value.

    The template is compiled on first use and the compiled form kept for as long as the
    template object lives in the cache: a definition's templates are never modified.
    """
    if not isinstance(template, dict | list):
        return template
    entry = _TEMPLATES.get(id(template))
    if entry is None or entry[0] is not template:
        if len(_TEMPLATES) >= _MAX_TEMPLATES:
            _TEMPLATES.clear()
        entry = (template, _compile_template(template))
        _TEMPLATES[id(template)] = entry
    evaluate = entry[1]
    return template if evaluate is None else evaluate((data, context, variables, uuid, random))


# What a compiled template is evaluated with: data, context, variables, uuid, random.
_Env = tuple[Any, Any, Mapping[str, Any], Callable[[], str], Callable[[], float]]
_Evaluator = Callable[[_Env], Any]

# Keyed by id(); each entry holds the template itself, so the id cannot be reused meanwhile.
_TEMPLATES: dict[int, tuple[Any, _Evaluator | None]] = {}
_MAX_TEMPLATES: Final = 4096


def _compile_template(template: Any) -> _Evaluator | None:
    """An evaluator for ``template``, or None when it has no ``.$`` field (it is its value)."""
    if isinstance(template, dict):
        entries: list[tuple[str, _Evaluator | None, Any]] = []
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                entries.append((key[:-2], _compile_field(key, value), None))
            else:
                entries.append((key, _compile_template(value), value))
        if all(evaluate is None for _, evaluate, _ in entries):
            return None
        return lambda env: {
            key: value if evaluate is None else evaluate(env) for key, evaluate, value in entries
        }
    if isinstance(template, list):
        items = [(_compile_template(item), item) for item in template]
        if all(evaluate is None for evaluate, _ in items):
            return None
        return lambda env: [item if evaluate is None else evaluate(env) for evaluate, item in items]
    return None


def _compile_field(key: str, value: str) -> _Evaluator:
    if is_intrinsic(value):
        return lambda env: evaluate_intrinsic(
            value, env[0], context=env[1], variables=env[2], uuid=env[3], random=env[4], field=key
        )
    query = _compile(value)
    return lambda env: read(query, env[0], context=env[1], variables=env[2], field=key)


def is_path(text: Any) -> bool:
    """Whether ``text`` is a path a JSONPath field (InputPath, OutputPath, ItemsPath, ``.$``
    values, ``*Path`` fields) accepts: input, context object or variable rooted."""
    try:
        compile_query(text)
    except InvalidExpression:
        return False
    return True


def is_reference_path(text: Any, *, input_only: bool = False) -> bool:
    """Whether ``text`` is a reference path: keys and single indices only, one definite
    place (``ItemsPath``; ``$$...`` allowed). ``ResultPath`` also needs ``input_only``: it
    places the result into the state's input, not the context object or a variable."""
    try:
        query = compile_query(text)
    except InvalidExpression:
        return False
    single = query.definite and not query.merges
    return single and (query.root == "input" or not input_only)


def invalid_payload_fields(template: Any) -> list[str]:
    """The ``.$`` keys of a payload template, at any depth, whose value is neither a path nor a
    valid intrinsic function call: AWS refuses the definition, naming each key ("The value for
    the field 'k.$' must be a valid JSONPath or a valid intrinsic function call")."""
    bad: list[str] = []
    if isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                if not (_is_valid_intrinsic(value) if is_intrinsic(value) else is_path(value)):
                    bad.append(key)
            else:
                bad.extend(invalid_payload_fields(value))
    elif isinstance(template, list):
        for item in template:
            bad.extend(invalid_payload_fields(item))
    return bad


def _is_valid_intrinsic(text: str) -> bool:
    try:
        parse_intrinsic(text)
    except InvalidExpression:
        return False
    return True


def _compile(path: str) -> Query:
    try:
        return compile_query(path)
    except InvalidExpression as exc:
        # Validation refuses such a definition; this is for a path that bypassed it.
        raise StatesError("States.Runtime", f"Invalid path '{path}' : {exc.reason}") from None
