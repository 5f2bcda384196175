"""The JSONPath subset EventBridge accepts in ``InputPath`` and ``InputPathsMap`` (pure: no I/O).

A path is compiled once and evaluated many times::

    compile_path("$.detail.items[0].id")  → JsonPath(steps=("detail", "items", 0, "id"))
    .get({"detail": {"items": [{"id": 7}]}})  → 7
    .get({"detail": {}})                      → MISSING

The grammar is ``$`` followed by any number of steps, each ``.name``, ``.*``, ``[<index>]`` or
``[*]``. A name is any run of characters other than ``.``, ``[``, ``]``, quotes and white space
(EventBridge documents dashes, underscores, alphanumerics and forward slashes; event keys such
as ``aws:tag`` are common enough that we accept them too). Bracketed keys (``$['a']``), filters,
slices, negative indices and recursive descent (``$..a``) are refused: EventBridge only promises
dot notation. Paths are at most 256 characters, EventBridge's API limit.

Evaluation follows Jayway JsonPath, the library behind EventBridge's Java implementation: a path
without a wildcard (definite) yields one value or ``MISSING``; a path with a wildcard yields a
list of every value found (possibly empty), missing branches simply contributing nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from eventbus.errors import InvalidTransformError

__all__ = ["MAX_PATH_CHARS", "MISSING", "WILDCARD", "JsonPath", "compile_path"]

MAX_PATH_CHARS: Final = 256


class _Missing:
    """The value of a path that selects nothing; distinct from JSON ``null``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


class _Wildcard:
    __slots__ = ()

    def __repr__(self) -> str:
        return "*"


MISSING: Final = _Missing()
WILDCARD: Final = _Wildcard()

Step = str | int | _Wildcard

_STEP = re.compile(r"""\.(?P<name>[^.\[\]'"\s]+)|\[(?P<index>0|[1-9][0-9]*|\*)\]""")


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A compiled path: ``steps`` are keys (str), list indices (int) or ``WILDCARD``."""

    text: str
    steps: tuple[Step, ...]
    definite: bool

    def get(self, doc: Any) -> Any:
        """The value selected in ``doc``: ``MISSING`` when a definite path selects nothing."""
        if self.definite:
            return _walk(doc, self.steps)
        found: list[Any] = []
        _collect(doc, self.steps, 0, found)
        return found


def compile_path(text: str, *, field: str = "path") -> JsonPath:
    """Parse ``text``; a path EventBridge would not take raises ``InvalidTransformError(field)``."""
    if not isinstance(text, str):
        raise InvalidTransformError(field, f"a JSON path must be a string, not {text!r}")
    if len(text) > MAX_PATH_CHARS:
        raise InvalidTransformError(
            field, f"JSON path is {len(text)} characters long; at most {MAX_PATH_CHARS} allowed"
        )
    if not text.startswith("$"):
        raise InvalidTransformError(field, f"JSON path {text!r} must start with '$'")
    steps = _parse_steps(text, field)
    return JsonPath(text, steps, definite=WILDCARD not in steps)


def _parse_steps(text: str, field: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    pos = 1
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None:
            raise InvalidTransformError(
                field,
                f"JSON path {text!r} is not valid at character {pos + 1}: use dot notation "
                "($.detail.name), list indices ([0]) and wildcards (* or [*]) only",
            )
        steps.append(_step(m))
        pos = m.end()
    return tuple(steps)


def _step(m: re.Match[str]) -> Step:
    name, index = m.group("name"), m.group("index")
    if name is not None:
        return WILDCARD if name == "*" else name
    return WILDCARD if index == "*" else int(index)


def _walk(doc: Any, steps: tuple[Step, ...]) -> Any:
    # The hot path of every transformer variable: plain type checks, no recursion.
    cur = doc
    for step in steps:
        if isinstance(step, str):
            if not isinstance(cur, dict) or step not in cur:
                return MISSING
            cur = cur[step]
        elif isinstance(step, int) and isinstance(cur, list) and step < len(cur):
            cur = cur[step]
        else:
            return MISSING
    return cur


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return list(node.values())
    return list(node) if isinstance(node, list) else []


def _collect(node: Any, steps: tuple[Step, ...], i: int, found: list[Any]) -> None:
    if i == len(steps):
        found.append(node)
        return
    step = steps[i]
    if step is WILDCARD:
        for child in _children(node):
            _collect(child, steps, i + 1, found)
        return
    child = _walk(node, (step,))
    if child is not MISSING:
        _collect(child, steps, i + 1, found)
