"""Limits a rule file's YAML must keep, checked on the parser's event stream before any node or
object is built.

Building first is what hostile YAML exploits: a few hundred bytes of nested aliases (the
"billion laughs") expand to a billion values once copied into plain lists, a 5,000-deep flow
sequence sends the recursive composer into seconds of work before ``RecursionError``, and a
sequence used as a mapping key builds a key no JSON document can hold. The event stream is flat
and linear in the file's size, so walking it once with a depth counter and an expansion budget
refuses all three in time proportional to the text, with the line where the limit is crossed.

One step comes before the events: the pure-Python scanner keeps a possible simple key per open
``[`` or ``{`` and rescans them all at every token, so deep flow nesting is quadratic before the
parser emits its first event. ``BoundedScanner`` refuses the ``[`` or ``{`` past ``MAX_DEPTH``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingStartEvent,
    NodeEvent,
)
from ruamel.yaml.scanner import RoundTripScanner

__all__ = ["MAX_DEPTH", "MAX_NODES", "BoundedScanner", "YamlLimitError", "check_yaml_limits"]

# Collections nested in collections; a rule file needs about 6 levels around an event pattern.
MAX_DEPTH = 64
# Values (scalars and collections) of a document once every alias is expanded, which is what
# reading the file into plain dicts and lists creates. A rule file with 300 rules uses ~15,000.
MAX_NODES = 100_000


@dataclass(frozen=True, slots=True)
class YamlLimitError(Exception):
    """A limit crossed at ``line`` (1-based)."""

    line: int
    message: str


def _too_deep(line: int) -> YamlLimitError:
    return YamlLimitError(line, f"nesting is deeper than {MAX_DEPTH} levels")


class BoundedScanner(RoundTripScanner):
    """The round-trip scanner, refusing flow collections nested past ``MAX_DEPTH``."""

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _too_deep(self.reader.line + 1)
        super().fetch_flow_collection_start(TokenClass, to_push)


@dataclass(slots=True)
class _Open:
    """A collection being read: how many values it holds so far (its own children)."""

    mapping: bool
    anchor: str | None
    children: int = 0
    size: int = 1  # itself and everything under it, aliases expanded


@dataclass(slots=True)
class _Walk:
    """The state of one document's walk."""

    open: list[_Open] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # anchor → expanded size it names
    collections: set[str] = field(default_factory=set)  # anchors naming a list or mapping
    total: int = 0

    def close(self) -> None:
        done = self.open.pop()
        if done.anchor is not None:
            self.sizes[done.anchor] = done.size
            self.collections.add(done.anchor)
        if self.open:
            self.open[-1].size += done.size

    def node(self, event: NodeEvent, line: int) -> None:
        is_alias = isinstance(event, AliasEvent)
        is_collection = isinstance(event, CollectionStartEvent)
        parent = self.open[-1] if self.open else None
        if parent is not None:
            names_collection = is_alias and event.anchor in self.collections
            if parent.mapping and parent.children % 2 == 0 and (is_collection or names_collection):
                raise YamlLimitError(line, "a mapping key must be a scalar, not a list or mapping")
            parent.children += 1
        if is_collection:
            if len(self.open) >= MAX_DEPTH:
                raise _too_deep(line)
            self.open.append(_Open(isinstance(event, MappingStartEvent), event.anchor))
            self.total += 1
        else:
            # An alias to an unknown anchor counts as one value; the loader reports it.
            size = self.sizes.get(event.anchor, 1) if is_alias else 1
            if event.anchor is not None and not is_alias:
                self.sizes[event.anchor] = 1
                self.collections.discard(event.anchor)
            if parent is not None:
                parent.size += size
            self.total += size
        if self.total > MAX_NODES:
            raise YamlLimitError(
                line, f"the document expands to more than {MAX_NODES} values (aliases expanded)"
            )


def check_yaml_limits(yaml: YAML, text: str) -> None:
    """Raise ``YamlLimitError`` if ``text`` (read by ``yaml``, whose ``Scanner`` should be a
    ``BoundedScanner``) nests deeper than ``MAX_DEPTH``, expands past ``MAX_NODES`` values, or
    uses a collection as a mapping key. Syntax errors are left for the loader to report."""
    walk = _Walk()
    for event in yaml.parse(text):
        if isinstance(event, DocumentStartEvent):
            walk = _Walk()  # anchors are per document
        elif isinstance(event, CollectionEndEvent):
            walk.close()
        elif isinstance(event, NodeEvent):
            walk.node(event, event.start_mark.line + 1)
