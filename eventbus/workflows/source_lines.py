"""Where a diagnostic of a definition is in its file: a ValidateStateMachineDefinition location
(``/States/Choose/Choices[0]/Next``) turned into a path through the parsed definition, and the
line of that path in the JSON text it was parsed from (pure).

A location is not an escaped JSON pointer: a state may be named ``a/b`` or ``x[0]``. It is
therefore resolved against the definition itself, taking at each object the longest key the rest
of the location starts with, so every state name is found as written.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = ["Loc", "json_lines", "line_in", "resolve_location"]

Loc = tuple[str | int, ...]

_INDEX = re.compile(r"\[(\d+)\]")
# A string, a structural character, a newline, or any other scalar (number, true, false, null).
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:\n]|[^\s{}\[\],:"]+')


def resolve_location(definition: Any, location: str | None) -> Loc:
    """The path through ``definition`` that ``location`` names, as far as it exists."""
    if not location:
        return ()
    rest = location.removeprefix("/")
    node, path = definition, []
    while rest:
        if isinstance(node, dict):
            key = max(
                (k for k in node if rest == k or rest.startswith((f"{k}/", f"{k}["))),
                key=len,
                default=None,
            )
            if key is None:
                break
            rest = rest[len(key) :].removeprefix("/")
        elif isinstance(node, list) and (index := _INDEX.match(rest)) is not None:
            key = int(index.group(1))
            if key >= len(node):
                break
            rest = rest[index.end() :].removeprefix("/")
        else:
            break
        path.append(key)
        node = node[key]
    return tuple(path)


def json_lines(text: str) -> dict[Loc, int]:
    """The 1-based line of each object member (its key) and array item of ``text``, which is
    valid JSON, by path; the root's line under ``()``."""
    lines: dict[Loc, int] = {}
    # Each open container: [its path, "{" or "[", the current key or item index]
    stack: list[list[Any]] = []
    line = 1
    want_key = False

    def value_path() -> Loc:
        if not stack:
            return ()
        path, _, at = stack[-1]
        return (*path, at)

    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == "\n":
            line += 1
        elif token in ",:":
            if token == "," and stack:
                if stack[-1][1] == "[":
                    stack[-1][2] += 1
                else:
                    want_key = True
        elif token in "}]":
            stack.pop()
            want_key = False
        elif want_key and token[0] == '"':
            stack[-1][2] = orjson.loads(token)
            lines[value_path()] = line
            want_key = False
        else:
            path = value_path()
            if not stack or stack[-1][1] == "[":
                lines[path] = line
            if token in "{[":
                stack.append([path, token, 0])
                want_key = token == "{"
    return lines


def line_in(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of the deepest value along ``loc`` that ``lines`` knows."""
    for end in range(len(loc), -1, -1):
        found = lines.get(loc[:end])
        if found is not None:
            return found
    return None
