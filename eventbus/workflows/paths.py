"""ASL reference paths and JSONPath for the JSONPath query language (pure).

Paths read the state input (``$``), the context object (``$$``) or a variable (``$name``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from eventbus.errors import StatesError
from eventbus.workflows import jsontext

__all__ = [
    "apply_input_path",
    "apply_items_path",
    "apply_output_path",
    "apply_result_path",
    "evaluate_payload",
    "read_path",
]

_MISSING = object()
_STAR = object()
_TOKEN = re.compile(r"""\.(?P<name>[^.\[\]]+)|\[\s*'(?P<quoted>[^']*)'\s*\]"""
                    r"""|\[\s*"(?P<dq>[^"]*)"\s*\]"""
                    r"""|\[\s*(?P<index>-?\d+)\s*\]|\[\s*\*\s*\]|\.\*""")


@lru_cache(maxsize=4096)
def _compile(path: str) -> tuple[str, str, tuple[Any, ...]]:
    """(root kind, variable name, steps); root kind is '$', '$$' or 'var'."""
    if path.startswith("$$"):
        root, name, rest = "$$", "", path[2:]
    elif path.startswith("$") and len(path) > 1 and path[1] not in ".[":
        m = re.match(r"\$([A-Za-z_][\w]*)", path)
        if m is None:
            raise StatesError("States.Runtime", f"Invalid path '{path}'")
        root, name, rest = "var", m.group(1), path[m.end():]
    elif path.startswith("$"):
        root, name, rest = "$", "", path[1:]
    else:
        raise StatesError("States.Runtime", f"Invalid path '{path}'")
    steps: list[Any] = []
    pos = 0
    while pos < len(rest):
        m = _TOKEN.match(rest, pos)
        if m is None:
            raise StatesError("States.Runtime", f"Invalid path '{path}'")
        if m.group("name") is not None:
            steps.append(m.group("name"))
        elif m.group("quoted") is not None:
            steps.append(m.group("quoted"))
        elif m.group("dq") is not None:
            steps.append(m.group("dq"))
        elif m.group("index") is not None:
            steps.append(int(m.group("index")))
        else:
            steps.append(_STAR)
        pos = m.end()
    return root, name, tuple(steps)


def _walk(value: Any, steps: tuple[Any, ...]) -> Any:
    for i, step in enumerate(steps):
        if step is _STAR:
            items = value.values() if isinstance(value, dict) else value
            if not isinstance(items, (list, type({}.values()))):
                return _MISSING
            out = []
            for item in items:
                got = _walk(item, steps[i + 1:])
                if got is not _MISSING:
                    out.append(got)
            return out
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return _MISSING
            value = value[step]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return _MISSING
    return value


def _normalised(steps: tuple[Any, ...]) -> str:
    return "$" + "".join(
        "[*]" if s is _STAR else f"[{s}]" if isinstance(s, int) else f"['{s}']" for s in steps
    )


def read_path(path: str, data: Any, *, context: Any, variables: Mapping[str, Any],
              field: str | None = None) -> Any:
    """The value at ``path``; StatesError("States.Runtime") when it selects nothing (naming
    ``field`` when given)."""
    try:
        return _read(path, data, context=context, variables=variables)
    except StatesError as err:
        if field is None:
            raise
        source = context if path.startswith("$$") else data
        raise StatesError(
            "States.Runtime",
            f"The JSONPath '{path}' specified for the field '{field}' could not be found "
            f"in the input '{jsontext.dumps(source)}'",
        ) from err


def _read(path: str, data: Any, *, context: Any, variables: Mapping[str, Any]) -> Any:
    root, name, steps = _compile(path)
    if root == "$$":
        base = context
    elif root == "var":
        if name not in variables:
            raise StatesError("States.Runtime", f"Invalid path '{path}' : No variable '{name}'")
        base = variables[name]
    else:
        base = data
    got = _walk(base, steps)
    if got is _MISSING:
        raise StatesError(
            "States.Runtime", f"Invalid path '{path}' : No results for path: {_normalised(steps)}"
        )
    return got


def apply_items_path(
    path: str | None, data: Any, *, context: Any, variables: Mapping[str, Any]
) -> list[Any]:
    """The items a Map state iterates: ``ItemsPath`` (absent: ``"$"``) must select an array."""
    path = "$" if path is None else path
    items = read_path(path, data, context=context, variables=variables)
    if not isinstance(items, list):
        shown = path.replace("$$", "$", 1)
        raise StatesError("States.Runtime", f'Reference path "{shown}" must point to array.')
    return items


def apply_input_path(
    path: str | None, data: Any, *, context: Any, variables: Mapping[str, Any]
) -> Any:
    if path is None:
        return {}
    return read_path(path, data, context=context, variables=variables)


apply_output_path = apply_input_path


def apply_result_path(path: str | None, state_input: Any, result: Any) -> Any:
    """Place ``result`` into the state input at ``path`` (None keeps the input)."""
    if path is None:
        return state_input
    root, _, steps = _compile(path)
    if not steps:
        return result
    if root != "$" or any(not isinstance(s, str) for s in steps):
        raise StatesError("States.Runtime", f"Invalid ResultPath '{path}'")
    out = _copy(state_input) if isinstance(state_input, dict) else {}
    node = out
    for step in steps[:-1]:
        child = node.get(step)
        child = dict(child) if isinstance(child, dict) else {}
        node[step] = child
        node = child
    node[steps[-1]] = result
    return out


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    return dict(value)


def evaluate_payload(
    template: Any,
    data: Any,
    *,
    context: Any,
    variables: Mapping[str, Any],
    uuid: Callable[[], str],
    random: Callable[[], float],
) -> Any:
    """Parameters / ResultSelector / ItemSelector: ``.$`` keys take a path or intrinsic value."""
    from eventbus.workflows.intrinsics import evaluate_intrinsic

    if isinstance(template, list):
        return [
            evaluate_payload(v, data, context=context, variables=variables, uuid=uuid,
                             random=random)
            for v in template
        ]
    if not isinstance(template, dict):
        return template
    out: dict[str, Any] = {}
    for key, value in template.items():
        if key.endswith(".$") and isinstance(value, str):
            if value.startswith("States."):
                out[key[:-2]] = evaluate_intrinsic(
                    value, data, context=context, variables=variables, uuid=uuid, random=random
                )
                continue
            out[key[:-2]] = read_path(value, data, context=context, variables=variables,
                                      field=key)
        else:
            out[key] = evaluate_payload(value, data, context=context, variables=variables,
                                        uuid=uuid, random=random)
    return out
