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
its elements can never be told apart by consistency.

Only the paths a caller names are kept, and objects are entered only when a named path runs
through them, so an event's fields no rule uses cost a dict lookup each and nothing more.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from eventbus.patterns.values import Key, leaf_key

__all__ = ["Leaf", "Leaves", "Trail", "flatten", "merge_trails", "prefixes_of"]

Trail = tuple[tuple[int, int], ...]
Leaf = tuple[Key, Trail]
Leaves = dict[str, list[Leaf]]


def prefixes_of(paths: Iterable[str]) -> frozenset[str]:
    """``{"a.b.c"}`` -> ``{"a", "a.b"}``: the paths whose objects must be entered."""
    out = set()
    for path in paths:
        parts = path.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(out)


class _Walk:
    __slots__ = ("arrays", "names", "out", "prefixes")

    def __init__(self, names: Collection[str], prefixes: Collection[str]) -> None:
        self.names = names
        self.prefixes = prefixes
        self.out: Leaves = {}
        self.arrays = 0

    # Measured hot path: one call per object of the event, so it stays flat and local.
    def walk_object(self, obj: dict[str, Any], base: str | None, trail: Trail) -> None:
        names, prefixes, out = self.names, self.prefixes, self.out
        for key, value in obj.items():
            path = key if base is None else f"{base}.{key}"
            if isinstance(value, dict):
                if path in prefixes:
                    self.walk_object(value, path, trail)
            elif isinstance(value, list):
                if path in names or path in prefixes:
                    self.walk_array(value, path, trail)
            elif path in names:
                leaves = out.get(path)
                if leaves is None:
                    out[path] = [(leaf_key(value), trail)]
                else:
                    leaves.append((leaf_key(value), trail))

    def walk_array(self, items: list[Any], path: str, trail: Trail) -> None:
        nested = any(isinstance(item, (dict, list)) for item in items)
        if nested:
            self.arrays += 1
            array_id = self.arrays
        for index, item in enumerate(items):
            inner = (*trail, (array_id, index)) if nested else trail
            if isinstance(item, dict):
                if path in self.prefixes:
                    self.walk_object(item, path, inner)
            elif isinstance(item, list):
                self.walk_array(item, path, inner)
            elif path in self.names:
                self.out.setdefault(path, []).append((leaf_key(item), inner))


def flatten(event: dict[str, Any], names: Collection[str], prefixes: Collection[str]) -> Leaves:
    """The leaves of ``event`` at the paths in ``names`` (``prefixes`` = ``prefixes_of(names)``)."""
    walk = _Walk(names, prefixes)
    walk.walk_object(event, None, ())
    return walk.out


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
