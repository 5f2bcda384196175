"""Reference paths as Step Functions reads them (pure: no I/O).

Minimal version: ``$``, ``$.a.b``, ``$.a[0]``, the context object (``$$.Execution.Id``) and
variables (``$name.a``), in dot notation. The full JSONPath grammar replaces this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventbus.errors import InvalidTransformError, StatesError
from eventbus.jsonpath import MISSING, compile_path

__all__ = ["read_path"]


def read_path(path: str, data: Any, *, context: Any, variables: Mapping[str, Any]) -> Any:
    """The value ``path`` selects; ``StatesError("States.Runtime")`` when it selects nothing."""
    doc, rest = _root(path, data, context, variables)
    try:
        value = compile_path("$" + rest).get(doc) if rest else doc
    except InvalidTransformError:
        value = MISSING
    if value is MISSING:
        raise StatesError("States.Runtime", f"Invalid path '{path}' : No results for path: {path}")
    return value


def _root(path: str, data: Any, context: Any, variables: Mapping[str, Any]) -> tuple[Any, str]:
    if path.startswith("$$"):
        return context, path[2:]
    if path[1:2] in ("", ".", "["):
        return data, path[1:]
    end = len(path)
    for i, ch in enumerate(path[1:], 1):
        if ch in ".[":
            end = i
            break
    name = path[1:end]
    if name not in variables:
        raise StatesError("States.Runtime", f"Invalid path '{path}' : variable '{name}' is not set")
    return variables[name], path[end:]
