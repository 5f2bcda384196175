"""Event -> its leaf values by dot-joined path, with each leaf's array trail.

Arrays do not add to a path: every element of ``"tags": ["a", "b"]`` is a leaf at ``tags``, and
``{"items": [{"sku": "x"}]}`` has the leaf ``"x"`` at ``items.sku``. An empty array has no
leaves, so it counts as absent; an object is not a leaf either, only its members are.

The trail records which element of which array a leaf came from: ``((array_id, index), ...)``
from the outside in, ``array_id`` numbering the event's arrays of objects as they are met.
Fields that one branch matches must come from the same element of any array they share
(event-ruler's array consistency): ``{"a": 1, "b": 2}`` in one element matches a pattern on
``a`` and ``b``; ``[{"a": 1}, {"b": 2}]`` does not. Only arrays holding objects or arrays get an
id: an array of scalars holds leaves of one path only, and one path is matched by one field, so
its elements can never be told apart by consistency. ``flatten`` also answers each array id's
path (where the array sits), so a matcher can tell which arrays a field still to be matched could
share: an array at ``items`` can only be shared by fields under ``items``.

Only the paths a caller names are kept: they are given as a ``PathTree`` of their dot-separated
parts, and the walk enters an object only where the tree goes on, so an event's fields no rule
uses cost one dict probe each. An event key holding dots (``"state.status"``) is split and
followed part by part, which is what makes it the same field as nested keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventbus.patterns.values import Key, leaf_key

__all__ = ["Leaf", "Leaves", "PathTree", "Trail", "flatten", "merge_trails", "prefixes"]

Trail = tuple[tuple[int, int], ...]
Leaf = tuple[Key, Trail]
Leaves = dict[str, list[Leaf]]


class PathTree:
    """``PathTree.of(["a.b", "a.c"])``: a tree whose nodes know their dotted path."""

    __slots__ = ("children", "named", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.children: dict[str, PathTree] = {}
        self.named = False  # a pattern names this very path

    @classmethod
    def of(cls, paths: Iterable[str]) -> PathTree:
        root = cls("")
        for path in paths:
            node = root
            for part in path.split("."):
                child = node.children.get(part)
                if child is None:
                    child = node.children[part] = cls(f"{node.path}.{part}" if node.path else part)
                node = child
            node.named = True
        return root

    def descend(self, dotted_key: str) -> PathTree | None:
        node: PathTree | None = self
        for part in dotted_key.split("."):
            node = node.children.get(part) if node is not None else None
        return node


class _Walk:
    __slots__ = ("array_paths", "out")

    def __init__(self) -> None:
        self.out: Leaves = {}
        self.array_paths = [""]  # array id -> the path of the array; ids start at 1

    # Measured hot path: one call per object of the event, so it stays flat and local.
    def walk_object(self, obj: dict[str, Any], node: PathTree, trail: Trail) -> None:
        children, out = node.children, self.out
        for key, value in obj.items():
            child = children.get(key)
            if child is None:
                if type(key) is not str or "." not in key:
                    continue
                child = node.descend(key)
                if child is None:
                    continue
            if type(value) is str:  # most leaves: skip the isinstance chain and leaf_key
                if child.named:
                    leaves = out.get(child.path)
                    if leaves is None:
                        out[child.path] = [(value, trail)]
                    else:
                        leaves.append((value, trail))
            elif isinstance(value, dict):
                if child.children:
                    self.walk_object(value, child, trail)
            elif isinstance(value, list):
                self.walk_array(value, child, trail)
            elif child.named:
                # A float is its own key (``number_key``): no call for the commonest number.
                leaf = (value if type(value) is float else leaf_key(value), trail)
                out.setdefault(child.path, []).append(leaf)

    def walk_array(self, items: list[Any], node: PathTree, trail: Trail) -> None:
        nested = False
        for item in items:
            if isinstance(item, (dict, list)):
                nested = True
                break
        if not nested:  # scalars only (``tags``, ``resources``): no id, one list extended
            if node.named and items:
                leaves = self.out.get(node.path)
                if leaves is None:
                    leaves = self.out[node.path] = []
                for item in items:
                    kind = type(item)
                    leaves.append((item if kind is str or kind is float else leaf_key(item), trail))
            return
        array_id = len(self.array_paths)
        self.array_paths.append(node.path)
        # An object's members matter only where the tree goes on below this path.
        objects, named = bool(node.children), node.named
        for index, item in enumerate(items):
            if isinstance(item, dict):
                if objects:
                    self.walk_object(item, node, (*trail, (array_id, index)))
            elif isinstance(item, list):
                self.walk_array(item, node, (*trail, (array_id, index)))
            elif named:
                leaf = (item if type(item) is str else leaf_key(item), (*trail, (array_id, index)))
                self.out.setdefault(node.path, []).append(leaf)


def flatten(event: dict[str, Any], tree: PathTree) -> tuple[Leaves, list[str]]:
    """The leaves of ``event`` at the paths in ``tree``, by path, and each array id's path.

    Ids are given in document order, an array before the arrays inside it, so along any trail
    the ids grow and the last entry is the innermost array.
    """
    walk = _Walk()
    walk.walk_object(event, tree, ())
    return walk.out, walk.array_paths


def prefixes(path: str) -> list[str]:
    """``"a.b.c"`` -> ``["a", "a.b", "a.b.c"]``: the paths an array above a leaf at ``path``
    can sit at."""
    parts = path.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def merge_trails(membership: Trail, trail: Trail) -> Trail | None:
    """The elements chosen so far plus ``trail``'s, or None when they disagree on an array."""
    if not trail or membership == trail:
        return membership
    if not membership:
        return trail
    chosen = dict(membership)
    for array_id, index in trail:
        if chosen.setdefault(array_id, index) != index:
            return None
    return tuple(sorted(chosen.items()))
