"""JSONPath as Step Functions evaluates it in JSONPath-mode states (pure: no I/O).

Step Functions runs paths through Jayway JsonPath, so this module follows Jayway: its grammar,
its split between *definite* paths (only keys and single indices: one value, or an error
when it is missing) and *indefinite* ones (wildcards, slices, unions, filters, ``..``: a list
of every match, possibly empty), and the text of its "not found" messages, which AWS quotes
in error causes (``No results for path: $['a']['b']``).

A path starts at one of three roots::

    $.order.items[0]      the state's input (or whatever document the caller gives)
    $$.Execution.Id       the context object
    $total.count          the variable ``total``

then any number of steps: ``.name``, ``['name']`` (``\\'`` escapes a quote), ``[0]``, ``[-1]``,
``.*`` / ``[*]``, ``['a','b']``, ``[0,2]``, ``[1:3]``, ``..name``, and filters
``[?(@.price < 10 && @.tags)]`` with ``== != < <= > >= =~ in nin``, ``&& || !`` and
parentheses. ``eventbus.jsonpath`` is the EventBridge subset (dot notation only); this grammar
is wider because Step Functions accepts all of Jayway's.

Compiled paths are cached by text: a state machine reuses the same few paths on every
transition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal

from eventbus.errors import InvalidExpression, StatesError
from eventbus.jsonpath import MISSING
from eventbus.workflows.filters import Predicate, bracket_end, parse_filter, read_quoted
from eventbus.workflows.javatext import java_string, to_json

__all__ = [
    "MISSING",
    "Query",
    "compile_query",
    "parse_query_prefix",
    "read",
]

Root = Literal["input", "context", "variable"]


@dataclass(frozen=True, slots=True)
class Wildcard:
    def fragment(self) -> str:
        return "[*]"


@dataclass(frozen=True, slots=True)
class Union:
    """``['a','b']`` or ``[0,2]``: several keys or indices at once."""

    members: tuple[str, ...] | tuple[int, ...]

    def fragment(self) -> str:
        return "[" + ", ".join(_fragment_member(m) for m in self.members) + "]"


@dataclass(frozen=True, slots=True)
class Slice:
    start: int | None
    end: int | None

    def fragment(self) -> str:
        start = "" if self.start is None else str(self.start)
        end = "" if self.end is None else str(self.end)
        return f"[{start}:{end}]"


@dataclass(frozen=True, slots=True)
class Filter:
    predicate: Predicate

    def fragment(self) -> str:
        return "[?]"


@dataclass(frozen=True, slots=True)
class Descent:
    """``..step``: the step applied to the node and to every node below it."""

    step: Step

    def fragment(self) -> str:
        return ".." + _fragment(self.step)


# A key (str) or a single index (int) keeps a path definite; anything else makes it a search.
Step = str | int | Wildcard | Union | Slice | Filter | Descent


@dataclass(frozen=True, slots=True)
class Query:
    """A compiled path. ``text`` is as written; ``root``/``variable`` say where it starts."""

    text: str
    root: Root
    variable: str | None
    steps: tuple[Step, ...]
    definite: bool
    # A last step of several keys (['a','b']) gives one object holding them (Jayway's merge).
    merges: bool = False

    @property
    def display(self) -> str:
        """The path as AWS quotes it in messages: a context path loses its first ``$``."""
        return self.text[1:] if self.root == "context" else self.text

    def jayway(self, upto: int | None = None) -> str:
        """Jayway's normalised form (``$['a'][0]``), of the first ``upto`` steps if given."""
        return "$" + "".join(_fragment(s) for s in self.steps[:upto])

    def get(self, doc: Any) -> Any:
        """The value a definite path selects (``MISSING`` if none), or every match as a list."""
        if self.definite:
            if self.merges:
                last = self.steps[-1]
                assert isinstance(last, Union)
                parent = _walk(doc, self.steps[:-1])
                return MISSING if parent is MISSING else _merge(parent, last.members)
            return _walk(doc, self.steps)
        found: list[Any] = []
        _collect(doc, self.steps, 0, doc, found)
        return found

    def why_missing(self, doc: Any) -> str:
        """Jayway's message for a definite path that selects nothing in ``doc``."""
        cur = doc
        last = len(self.steps) - 1
        for i, step in enumerate(self.steps):
            if isinstance(step, str):
                if not isinstance(cur, dict):
                    return (
                        f"Expected to find an object with property {_fragment(step)} in path "
                        f"{self.jayway(i)} but found '{_java_class(cur)}'. This is not a json "
                        "object according to the JsonProvider: "
                        "'com.jayway.jsonpath.spi.json.JacksonJsonProvider'."
                    )
                if step not in cur:
                    if i == last:
                        break
                    return f"Missing property in path {self.jayway(i + 1)}"
                cur = cur[step]
            else:
                assert isinstance(step, int)
                if cur is None:
                    return f"The path {self.jayway(i)} is null"
                if not isinstance(cur, list):
                    return (
                        f"Filter: {_fragment(step)} can only be applied to arrays. "
                        f"Current context is: {java_string(cur)}"
                    )
                j = step + len(cur) if step < 0 else step
                if not 0 <= j < len(cur):
                    break
                cur = cur[j]
        return f"No results for path: {self.jayway()}"


def compile_query(text: str) -> Query:
    """Parse a whole path; text that is not one raises ``InvalidExpression``."""
    if not isinstance(text, str):
        raise InvalidExpression(str(text), "a path must be a string")
    return _compile(text)


def parse_query_prefix(text: str, pos: int) -> tuple[Query, int]:
    """Parse the path starting at ``text[pos]`` up to the first character that cannot continue
    it (an intrinsic function's ``,`` or ``)``); returns the path and where it stopped."""
    root, variable, at = _parse_root(text, pos)
    steps, end = _parse_steps(text, at, stop=",)")
    query = _query(text[pos:end], root, variable, steps)
    return query, end


@lru_cache(maxsize=8192)
def _compile(text: str) -> Query:
    root, variable, at = _parse_root(text, 0)
    steps, end = _parse_steps(text, at, stop="")
    if end != len(text):
        raise InvalidExpression(text, f"unexpected {text[end]!r} at character {end + 1}")
    return _query(text, root, variable, steps)


_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[^.\[\]\s()'\",=!<>&|]+")


def _parse_root(text: str, pos: int) -> tuple[Root, str | None, int]:
    if not text.startswith("$", pos):
        raise InvalidExpression(text, "a path must start with '$'")
    if text.startswith("$$", pos):
        return "context", None, pos + 2
    m = _VARIABLE.match(text, pos + 1)
    if m is not None:
        return "variable", m.group(), m.end()
    return "input", None, pos + 1


def _query(text: str, root: Root, variable: str | None, steps: tuple[Step, ...]) -> Query:
    merges = bool(steps) and _is_key_union(steps[-1])
    body = steps[:-1] if merges else steps
    definite = all(isinstance(s, str | int) for s in body)
    return Query(text, root, variable, steps, definite, merges)


def _is_key_union(step: Step) -> bool:
    return isinstance(step, Union) and isinstance(step.members[0], str)


def _merge(node: Any, names: tuple[Any, ...]) -> Any:
    # Jayway gathers the keys of a last ['a','b'] step into one object, leaving out missing ones.
    if not isinstance(node, dict):
        return MISSING
    return {name: node[name] for name in names if name in node}


def _parse_steps(text: str, pos: int, *, stop: str) -> tuple[tuple[Step, ...], int]:
    steps: list[Step] = []
    n = len(text)
    while pos < n and text[pos] not in stop:
        if text.startswith("..", pos):
            inner, pos = _parse_one(text, pos + 2)
            steps.append(Descent(inner))
        elif text[pos] == ".":
            step, pos = _parse_one(text, pos + 1)
            steps.append(step)
        elif text[pos] == "[":
            step, pos = _parse_bracket(text, pos)
            steps.append(step)
        else:
            break
    return tuple(steps), pos


def _parse_one(text: str, pos: int) -> tuple[Step, int]:
    if text.startswith("*", pos):
        return Wildcard(), pos + 1
    if text.startswith("[", pos):
        return _parse_bracket(text, pos)
    m = _NAME.match(text, pos)
    if m is None:
        raise InvalidExpression(text, f"a property name is expected at character {pos + 1}")
    return m.group(), m.end()


_INDEX = re.compile(r"\s*(-?\d+)\s*")
_SLICE = re.compile(r"\s*(-?\d+)?\s*:\s*(-?\d+)?\s*")


def _parse_bracket(text: str, pos: int) -> tuple[Step, int]:
    close = bracket_end(text, pos)
    body = text[pos + 1 : close]
    end = close + 1
    stripped = body.strip()
    if stripped == "*":
        return Wildcard(), end
    if stripped.startswith("?"):
        inner = stripped[1:].strip()
        if not (inner.startswith("(") and inner.endswith(")")):
            raise InvalidExpression(text, "a filter must read [?(<expression>)]")
        return Filter(parse_filter(text, inner[1:-1], _operand_query)), end
    if stripped[:1] in ("'", '"'):
        names = _quoted_names(text, stripped)
        return (names[0] if len(names) == 1 else Union(tuple(names))), end
    m = _SLICE.fullmatch(body)
    if m is not None:
        start, stop = (None if g is None else int(g) for g in m.groups())
        return Slice(start, stop), end
    parts = body.split(",")
    indices: list[int] = []
    for part in parts:
        im = _INDEX.fullmatch(part)
        if im is None:
            raise InvalidExpression(text, f"[{body}] is not an index, key, slice or filter")
        indices.append(int(im.group(1)))
    return (indices[0] if len(indices) == 1 else Union(tuple(indices))), end


def _quoted_names(text: str, body: str) -> list[str]:
    names: list[str] = []
    pos = 0
    while True:
        value, pos = read_quoted(text, body, pos)
        names.append(value)
        rest = body[pos:].lstrip()
        if not rest:
            return names
        if not rest.startswith(","):
            raise InvalidExpression(text, f"names in [{body}] must be separated by commas")
        pos = len(body) - len(rest) + 1
        pos += len(body[pos:]) - len(body[pos:].lstrip())


def _operand_query(source: str) -> tuple[Query, int]:
    """A filter operand's path (``source`` starts at its ``$``/``@``), and where it ends."""
    steps, end = _parse_steps(source, 1, stop=" )!=<>&|")
    return _query(source[:end], "input", None, steps), end


def _fragment_member(member: str | int) -> str:
    return f"'{member}'" if isinstance(member, str) else str(member)


def _fragment(step: Step) -> str:
    if isinstance(step, str | int):
        return f"[{_fragment_member(step)}]"
    return step.fragment()


def _walk(doc: Any, steps: tuple[Any, ...]) -> Any:
    # The hot path of every InputPath/Parameters read: plain type checks, no recursion. Only
    # called with keys (str) and indices (int).
    cur = doc
    for step in steps:
        if type(step) is str:
            if type(cur) is not dict:
                return MISSING
            cur = cur.get(step, MISSING)
            if cur is MISSING:
                return MISSING
        elif type(cur) is list:
            j = step + len(cur) if step < 0 else step
            if not 0 <= j < len(cur):
                return MISSING
            cur = cur[j]
        else:
            return MISSING
    return cur


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        yield from node.values()
    elif isinstance(node, list):
        yield from node


def _apply(node: Any, step: Step, root: Any) -> Iterator[Any]:
    """Every node one step selects below ``node``."""
    if isinstance(step, str | int):
        found = _walk(node, (step,))
        if found is not MISSING:
            yield found
    elif isinstance(step, Wildcard):
        yield from _children(node)
    elif isinstance(step, Union):
        for member in step.members:
            yield from _apply(node, member, root)
    elif isinstance(step, Slice):
        if isinstance(node, list):
            yield from node[step.start : step.end]
    elif isinstance(step, Filter):
        # Jayway applies a filter to each element of an array, and to an object itself.
        candidates = node if isinstance(node, list) else [node] if isinstance(node, dict) else []
        for item in candidates:
            if step.predicate.test(item, root):
                yield item
    else:
        yield from _descend(node, step.step, root)


def _descend(node: Any, step: Step, root: Any) -> Iterator[Any]:
    yield from _apply(node, step, root)
    for child in _children(node):
        if isinstance(child, dict | list):
            yield from _descend(child, step, root)


def _collect(node: Any, steps: tuple[Step, ...], i: int, root: Any, found: list[Any]) -> None:
    if i == len(steps):
        found.append(node)
        return
    step = steps[i]
    if i == len(steps) - 1 and isinstance(step, Union) and _is_key_union(step):
        merged = _merge(node, step.members)
        if merged is not MISSING:
            found.append(merged)
        return
    for child in _apply(node, step, root):
        _collect(child, steps, i + 1, root, found)


_JAVA_CLASSES: Final = {
    str: "java.lang.String",
    int: "java.lang.Integer",
    float: "java.lang.Double",
    bool: "java.lang.Boolean",
    list: "java.util.ArrayList",
}


def _java_class(value: Any) -> str:
    return "null" if value is None else _JAVA_CLASSES.get(type(value), "java.util.LinkedHashMap")


# --- reading with Step Functions' errors ------------------------------------------------------


def read(
    query: Query,
    data: Any,
    *,
    context: Any,
    variables: Mapping[str, Any],
    field: str | None = None,
) -> Any:
    """The value ``query`` selects, or ``StatesError("States.Runtime")`` with AWS's text.

    With ``field`` (a ``.$`` key, ``ErrorPath``, ...) the text names the field and quotes the
    document; without it, it is the ``Invalid path`` form AWS gives for InputPath/OutputPath.
    """
    if query.root == "input":
        doc = data
    elif query.root == "context":
        doc = context
    else:
        doc = variables.get(query.variable, MISSING)  # type: ignore[arg-type]
        if doc is MISSING:
            raise _not_found(query, data, field, f"The variable '${query.variable}' is not defined")
    value = query.get(doc)
    if value is MISSING:
        raise _not_found(query, doc, field, query.why_missing(doc))
    return value


def _not_found(query: Query, doc: Any, field: str | None, reason: str) -> StatesError:
    if field is not None:
        return StatesError(
            "States.Runtime",
            f"The JSONPath '{query.display}' specified for the field '{field}' could not be "
            f"found in the input '{to_json(doc)}'",
        )
    return StatesError("States.Runtime", f"Invalid path '{query.display}' : {reason}")
