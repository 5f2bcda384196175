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

from eventbus.patterns.numbers import number_key
from eventbus.patterns.values import Key, leaf_key

__all__ = ["Leaf", "Leaves", "PathTree", "Trail", "flatten", "merge_trails", "prefixes"]

Trail = tuple[tuple[int, int], ...]
Leaf = tuple[Key, Trail]
Leaves = dict[str, list[Leaf]]

_LARGE = 2**1023
_PLANS = 64  # key tuples remembered per node of a PathTree


class PathTree:
    """``PathTree.of(["a.b", "a.c"])``: a tree whose nodes know their dotted path."""

    __slots__ = ("children", "named", "path", "plans")

    def __init__(self, path: str) -> None:
        self.path = path
        self.children: dict[str, PathTree] = {}
        self.named = False  # a pattern names this very path
        # An object's keys, in order -> those the tree goes on at: (key, node, its path if named).
        self.plans: dict[tuple[Any, ...], list[tuple[Any, PathTree, str | None]]] = {}

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

    def plan(self, keys: tuple[Any, ...]) -> list[tuple[Any, PathTree, str | None]]:
        """The keys of an object (all of them, in order) that lead somewhere in the tree, with
        where: a key holding dots (``"state.status"``) is followed part by part. Remembered per
        key tuple: the objects of one kind of event share their keys, so the walk looks only at
        the keys the patterns use, and an object's other fields cost nothing. A node keeps at
        most ``_PLANS`` key tuples (events of varied keys start it over)."""
        plan = []
        for key in keys:
            child = self.children.get(key)
            if child is None and type(key) is str and "." in key:
                child = self.descend(key)
            if child is not None:
                plan.append((key, child, child.path if child.named else None))
        if len(self.plans) >= _PLANS:
            self.plans.clear()
        self.plans[keys] = plan
        return plan


# Measured hot path: one call per object of the event, so it stays flat and local. The walk
# tests ``type(value) is ...``, not ``isinstance``: JSON gives exact dicts, lists, strings and
# numbers, and keys a number here rather than in a call (``number_key``; every int below 2**1023
# converts to a float). ``obj`` is an exact dict (see ``_walk_other``).
def _walk_object(
    obj: dict[str, Any], node: PathTree, trail: Trail, out: Leaves, arrays: list[str]
) -> None:
    keys = tuple(obj)
    plan = node.plans.get(keys)
    if plan is None:
        plan = node.plan(keys)
    for key, child, path in plan:
        value = obj[key]
        kind = type(value)
        if kind is str or kind is float:
            leaf: Key = value
        elif kind is dict:
            if child.children:
                _walk_object(value, child, trail, out, arrays)
            continue
        elif kind is list:
            _walk_array(value, child, trail, out, arrays)
            continue
        elif kind is int:
            leaf = float(value) if -_LARGE < value < _LARGE else number_key(value)
        else:
            _walk_other(value, child, trail, out, arrays)
            continue
        if path is not None:
            if path in out:
                out[path].append((leaf, trail))
            else:  # the first leaf at a path, as most are
                out[path] = [(leaf, trail)]


def _walk_other(value: Any, node: PathTree, trail: Trail, out: Leaves, arrays: list[str]) -> None:
    """A value ``_walk_object`` does not take directly: a subclass of dict (events made in
    Python; walked as a plain copy) or of list, or a literal (``true``, ``null``) or non-JSON
    value keyed by ``leaf_key``."""
    if isinstance(value, dict):
        if node.children:
            _walk_object(dict(value), node, trail, out, arrays)
    elif isinstance(value, list):
        _walk_array(value, node, trail, out, arrays)
    elif node.named:
        out.setdefault(node.path, []).append((leaf_key(value), trail))


def _walk_array(
    items: list[Any], node: PathTree, trail: Trail, out: Leaves, arrays: list[str]
) -> None:
    for item in items:
        if isinstance(item, (dict, list)):
            break
    else:  # scalars only (``tags``, ``resources``): no id, one list extended
        if node.named and items:
            leaves = out.get(node.path)
            if leaves is None:
                leaves = out[node.path] = []
            for item in items:
                kind = type(item)
                leaves.append((item if kind is str or kind is float else leaf_key(item), trail))
        return
    array_id = len(arrays)
    arrays.append(node.path)
    # An object's members matter only where the tree goes on below this path.
    objects, named = bool(node.children), node.named
    for index, item in enumerate(items):
        if isinstance(item, dict):
            if objects:
                obj = item if type(item) is dict else dict(item)
                _walk_object(obj, node, (*trail, (array_id, index)), out, arrays)
        elif isinstance(item, list):
            _walk_array(item, node, (*trail, (array_id, index)), out, arrays)
        elif named:
            leaf = (item if type(item) is str else leaf_key(item), (*trail, (array_id, index)))
            out.setdefault(node.path, []).append(leaf)


def flatten(event: dict[str, Any], tree: PathTree) -> tuple[Leaves, list[str]]:
    """The leaves of ``event`` at the paths in ``tree``, by path, and each array id's path.

    Ids are given in document order, an array before the arrays inside it, so along any trail
    the ids grow and the last entry is the innermost array.
    """
    out: Leaves = {}
    arrays = [""]  # array id -> the path of the array; ids start at 1
    _walk_object(event if type(event) is dict else dict(event), tree, (), out, arrays)
    return out, arrays


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
