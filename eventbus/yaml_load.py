"""Reading a rule file's YAML: LibYAML's parser, one pass, limits checked as it goes.

The C parser (PyYAML's LibYAML bindings) turns the text into events; one loop over them builds
the plain dicts, lists, str, int, float, bool and None of the document, remembers the line of
every mapping key and list item (for error messages), and checks the limits in the same pass:

- collections nested deeper than ``MAX_DEPTH``;
- a document that expands to more than ``MAX_NODES`` values once every alias is expanded (the
  "billion laughs": a few hundred bytes of nested aliases naming a billion values);
- a list or mapping used as a mapping key (no JSON document can hold one).

Each is refused at the line where it is crossed, before anything bigger is built: an alias is
the object its anchor built, shared, never a copy, so the walk stays linear in the text. The
scanner of LibYAML looks ahead past the parser, and refuses nesting past its own bound (1,000
levels) while doing so; that refusal is reported as this module's depth limit.

Scalars follow the YAML 1.2 core schema, where only JSON's types exist: ``on``, ``yes`` and
``2024-01-01`` stay strings. Explicit standard tags (``!!str 1``, ``!!int "2"``) are honoured.
CloudFormation's short-form intrinsics (``!Ref``, ``!GetAtt``, ``!Sub``...) are kept as
:class:`Intrinsic` values, unresolved, so the rule reader can refuse each where it is written;
other tags are refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from yaml import MarkedYAMLError, YAMLError
from yaml.cyaml import CParser
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

__all__ = [
    "CLOUDFORMATION_TAGS",
    "MAX_DEPTH",
    "MAX_NODES",
    "Document",
    "Intrinsic",
    "YamlError",
    "load_yaml",
]

# Collections nested in collections; a rule file needs about 6 levels around an event pattern.
MAX_DEPTH = 64
# Values (scalars and collections) of a document once every alias is expanded, which is what
# validating it walks. A rule file with 300 rules uses ~15,000.
MAX_NODES = 100_000


class YamlError(Exception):
    """Text that is not valid YAML (``kind`` "syntax") or crosses a limit (``kind`` "limit"),
    at ``line`` (1-based) when known."""

    def __init__(self, kind: str, line: int | None, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.line = line
        self.message = message


def _too_deep(line: int | None) -> YamlError:
    return YamlError("limit", line, f"nesting is deeper than {MAX_DEPTH} levels")


# --- scalars: the YAML 1.2 core schema ---------------------------------------------------------

_TAG = "tag:yaml.org,2002:"
_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
# Underscores may separate digits (as YAML 1.1 allows), but a digit there must be:
# ``_`` or ``0x_`` stays a string.
_INT = re.compile(
    r"[-+]?(?:0b[0-1_]*[0-1][0-1_]*|0o[0-7_]*[0-7][0-7_]*|0x[0-9a-fA-F_]*[0-9a-fA-F][0-9a-fA-F_]*"
    r"|[0-9_]*[0-9][0-9_]*)"
)
_FLOAT = re.compile(
    r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
    r"|[-+]?\.[0-9_]*[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN)"
)
_BASES = {"0b": 2, "0o": 8, "0x": 16}


def _int(text: str) -> int:
    """An integer of the core schema; ``ValueError`` past Python's digit limit."""
    digits = text.replace("_", "")
    if not digits.lstrip("+-"):
        raise ValueError(f"{text!r} is not an integer")
    sign = -1 if digits[0] == "-" else 1
    digits = digits.lstrip("+-")
    base = _BASES.get(digits[:2], 10)
    return sign * int(digits[2:] if base != 10 else digits, base)


def _float(text: str) -> float:
    value = text.replace("_", "").lower()
    if value.endswith((".inf", ".nan")):
        return float(value.replace(".", ""))
    return float(value)


def _plain(text: str) -> Any:
    """A plain (unquoted, untagged) scalar resolved by the core schema."""
    if not text or text[0] in "~nN":
        if _NULL.fullmatch(text):
            return None
    elif text[0] in "tTfF":
        found = _BOOL.get(text)
        if found is not None:
            return found
    elif text[0] in "-+0123456789.":
        if _INT.fullmatch(text):
            return _int(text)
        if _FLOAT.fullmatch(text):
            return _float(text)
    return text


def _null(text: str) -> None:
    if _NULL.fullmatch(text) is None:
        raise ValueError(f"{text!r} is not null")


def _bool(text: str) -> bool:
    if text not in _BOOL:
        raise ValueError(f"{text!r} is not a boolean")
    return _BOOL[text]


# The standard tags a scalar may carry explicitly.
_SCALAR_TAGS: dict[str, Callable[[str], Any]] = {
    "!": str,
    _TAG + "str": str,
    _TAG + "int": _int,
    _TAG + "float": _float,
    _TAG + "bool": _bool,
    _TAG + "null": _null,
}
_MAP_TAGS = (None, "!", _TAG + "map")
_SEQ_TAGS = (None, "!", _TAG + "seq")


# The short forms of CloudFormation's intrinsic functions and condition functions.
CLOUDFORMATION_TAGS = frozenset(
    f"!{name}"
    for name in (
        *("Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs", "ImportValue", "Join", "Length"),
        *("Select", "Split", "Sub", "ToJsonString", "Transform", "Ref", "Condition", "And"),
        *("Equals", "If", "Not", "Or"),
    )
)


@dataclass(frozen=True, slots=True, eq=False)
class Intrinsic:
    """A CloudFormation intrinsic written in its short form (``!Ref Queue``): its tag and the
    value it was given (a string, list or mapping), never resolved."""

    tag: str
    value: Any


# --- the document ------------------------------------------------------------------------------

_MERGE = object()  # the ``<<`` key of a merge


@dataclass(slots=True)
class _Open:
    """A collection being built: its lines (key → line, or one per item), how many values it
    holds with aliases expanded, and for a mapping, the key waiting for its value."""

    value: dict[Any, Any] | list[Any]
    lines: dict[Any, int] | list[int]
    anchor: str | None
    size: int = 1
    key: Any = None
    key_line: int = 0
    has_key: bool = False
    merges: list[tuple[Any, int]] | None = None  # each ``<<`` value with its line
    tag: str | None = None  # a CloudFormation intrinsic's, which wraps the collection when done


class Document:
    """A YAML document as plain data, with the line of each mapping key and list item."""

    __slots__ = ("_lines", "data")

    def __init__(self, data: Any, lines: dict[int, tuple[int, dict[Any, int] | list[int]]]):
        self.data = data
        self._lines = lines  # id(collection) → (its first line, its keys' or items' lines)

    def line_of(self, loc: tuple[str | int, ...]) -> int | None:
        """The 1-based line of the deepest value along ``loc`` that exists in the document."""
        node = self.data
        found = self._lines.get(id(node))
        line = found[0] if found else None
        for key in loc:
            if found is None:
                break
            lines = found[1]
            if isinstance(node, dict) and isinstance(lines, dict) and key in node:
                line = lines[key]
            elif isinstance(node, list) and isinstance(lines, list) and isinstance(key, int):
                if not 0 <= key < len(node):
                    break
                line = lines[key]
            else:
                break
            node = node[key]
            found = self._lines.get(id(node))
        return line


class _Builder:
    """One document's walk: the open collections, the anchors, the expanded size so far."""

    def __init__(self) -> None:
        self.open: list[_Open] = []
        self.anchors: dict[str, tuple[Any, int]] = {}  # anchor → (value, expanded size)
        self.lines: dict[int, tuple[int, dict[Any, int] | list[int]]] = {}
        self.total = 0
        self.root: Any = None

    def add(self, value: Any, size: int, line: int, is_collection: bool) -> None:
        """Put a finished value into the collection being built (or make it the root)."""
        self.total += 0 if is_collection else size
        if self.total > MAX_NODES:
            raise YamlError("limit", line, f"the document expands to more than {MAX_NODES} "
                            "values (aliases expanded)")  # fmt: skip
        if not self.open:
            self.root = value
            return
        parent = self.open[-1]
        parent.size += size
        if isinstance(parent.value, list):
            parent.value.append(value)
            parent.lines.append(line)  # type: ignore[union-attr]
        elif not parent.has_key:
            if is_collection:
                raise YamlError("limit", line, "a mapping key must be a scalar, not a list or "
                                "mapping")  # fmt: skip
            parent.key, parent.key_line, parent.has_key = value, line, True
        else:
            self._set(parent, value)

    def _set(self, parent: _Open, value: Any) -> None:
        parent.has_key = False
        key, mapping = parent.key, parent.value
        assert isinstance(mapping, dict) and isinstance(parent.lines, dict)
        if key is _MERGE:
            parent.merges = [*(parent.merges or ()), (value, parent.key_line)]
            return
        if key in mapping:
            raise YamlError("syntax", parent.key_line, f"found duplicate key {key!r}")
        mapping[key] = value
        parent.lines[key] = parent.key_line

    def start(
        self, value: dict[Any, Any] | list[Any], anchor: str | None, line: int, tag: str | None
    ) -> None:
        if self.open and isinstance(self.open[-1].value, dict) and not self.open[-1].has_key:
            raise YamlError("limit", line, "a mapping key must be a scalar, not a list or mapping")
        if len(self.open) >= MAX_DEPTH:
            raise _too_deep(line)
        lines: dict[Any, int] | list[int] = {} if isinstance(value, dict) else []
        self.lines[id(value)] = (line, lines)
        self.open.append(_Open(value, lines, anchor, tag=tag))
        self.total += 1

    def end(self) -> None:
        done = self.open.pop()
        if done.merges is not None:
            _merge(done)
        line = self.lines[id(done.value)][0]
        value = done.value if done.tag is None else Intrinsic(done.tag, done.value)
        if done.anchor is not None:
            self.anchors[done.anchor] = (value, done.size)
        self.add(value, done.size, line, True)

    def alias(self, anchor: str, line: int) -> None:
        if anchor not in self.anchors:
            raise YamlError("syntax", line, f"found undefined alias {anchor!r}")
        value, size = self.anchors[anchor]
        is_collection = isinstance(value, dict | list) or (
            isinstance(value, Intrinsic) and isinstance(value.value, dict | list)
        )
        if is_collection:
            self.total += size
        self.add(value, size, line, is_collection)

    def scalar(self, event: ScalarEvent, line: int) -> None:
        tag = event.tag
        if event.implicit[0]:
            value = _plain(event.value)
        elif tag is None:
            value = event.value  # quoted, or a block scalar
        else:
            convert = _SCALAR_TAGS.get(tag)
            if tag in CLOUDFORMATION_TAGS:
                value = Intrinsic(tag, event.value)
            elif convert is None:
                raise YamlError("syntax", line, f"unknown tag {tag!r}; only standard tags")
            else:
                value = convert(event.value)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1)
        if event.implicit[0] and value == "<<" and self._expects_key():
            value = _MERGE
        self.add(value, 1, line, False)

    def _expects_key(self) -> bool:
        top = self.open[-1] if self.open else None
        return top is not None and isinstance(top.value, dict) and not top.has_key


def _merge(done: _Open) -> None:
    """``<<: *base`` or ``<<: [*a, *b]``: the keys of those mappings the mapping lacks."""
    mapping, lines = done.value, done.lines
    assert isinstance(mapping, dict) and isinstance(lines, dict) and done.merges is not None
    for merged, line in done.merges:
        for source in merged if isinstance(merged, list) else [merged]:
            if not isinstance(source, dict):
                raise YamlError("syntax", line, "a merge (<<) takes a mapping or a list of them")
            for key, value in source.items():
                if key not in mapping:
                    mapping[key] = value
                    lines[key] = line


def _walk(parser: CParser) -> Document | None:
    """The one document of the stream, None when it has none."""
    documents = 0
    builder = _Builder()
    while True:
        event = parser.get_event()
        kind = type(event)
        line = event.start_mark.line + 1
        if kind is ScalarEvent:
            builder.scalar(event, line)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            tag = event.tag
            if tag in CLOUDFORMATION_TAGS:
                builder.start({} if kind is MappingStartEvent else [], event.anchor, line, tag)
            elif tag in (_MAP_TAGS if kind is MappingStartEvent else _SEQ_TAGS):
                builder.start({} if kind is MappingStartEvent else [], event.anchor, line, None)
            else:
                raise YamlError("syntax", line, f"unknown tag {tag!r}; only standard tags")
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            builder.end()
        elif kind is AliasEvent:
            builder.alias(event.anchor, line)
        elif kind is DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise YamlError("syntax", line, "expected a single document in the stream")
        elif kind is StreamEndEvent:
            return Document(builder.root, builder.lines) if documents else None


def load_yaml(text: str) -> Document | None:
    """The one document of ``text``, None for a stream with none (only comments).

    ``YamlError`` for text that is not YAML or crosses a limit, ``ValueError`` for a scalar
    Python cannot hold (an integer past ``int()``'s 4,300-digit limit)."""
    parser = CParser(text)
    try:
        return _walk(parser)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        problem = e.problem or e.context or "not valid YAML"
        if problem == "exceeded maximum nesting depth":
            raise _too_deep(line) from None
        raise YamlError("syntax", line, problem) from None
    except YAMLError as e:
        raise YamlError("syntax", None, str(e)) from None
    finally:
        parser.dispose()
