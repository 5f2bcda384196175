"""``CompiledPattern``: one pattern, compiled once, matched against many events.

A branch matches when each positive field finds a leaf satisfying it, all the chosen leaves
come from the same element of any array they share, and no absent path has a leaf in those
elements. The search backtracks over the leaves of each field; arrays of objects are the only
case with more than one candidate to try.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from eventbus.patterns import nodes as n
from eventbus.patterns.flatten import Leaves, PathTree, Trail, flatten, merge_trails
from eventbus.patterns.parse import parse_pattern
from eventbus.patterns.predicates import Predicate, compile_conditions
from eventbus.patterns.values import Key
from eventbus.settings import get_settings

__all__ = ["CompiledPattern", "compile_pattern"]

_Check = tuple[str, Predicate]


class CompiledPattern:
    """A valid pattern, ready to match; ``branches`` is what the matcher indexes."""

    __slots__ = ("_checks", "_tree", "branches", "fields", "paths", "source")

    def __init__(self, branches: tuple[n.Branch, ...], source: Mapping[str, Any] | str) -> None:
        self.branches = branches
        self.source = source
        self._checks = tuple(
            (tuple((f.path, compile_conditions(f.conditions)) for f in b.positive), b.absent)
            for b in branches
        )
        self.paths = frozenset(
            [f.path for b in branches for f in b.positive] + [p for b in branches for p in b.absent]
        )
        self._tree = PathTree.of(self.paths)
        # The top-level fields the pattern names (a dotted key counts by its first part).
        self.fields = frozenset(path.split(".", 1)[0] for path in self.paths)

    def __repr__(self) -> str:
        return f"CompiledPattern({self.source!r})"

    def leaves(self, event: dict[str, Any]) -> Leaves:
        if not isinstance(event, dict):
            raise TypeError(f"an event must be a JSON object, not {type(event).__name__}")
        return flatten(event, self._tree)

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether ``event`` (any dict; no envelope fields are required) matches."""
        leaves = self.leaves(event)
        return any(_search(checks, absent, leaves, 0, ()) for checks, absent in self._checks)

    def explain(self, event: dict[str, Any]) -> str | None:
        """None when ``event`` matches, else ``<path>: <why>`` for the first branch's failure."""
        leaves = self.leaves(event)
        reasons = []
        for checks, absent in self._checks:
            if _search(checks, absent, leaves, 0, ()):
                return None
            reasons.append(_why(checks, absent, leaves))
        return "; ".join(dict.fromkeys(reasons)) if len(reasons) > 1 else reasons[0]


def _search(
    checks: tuple[_Check, ...], absent: tuple[str, ...], leaves: Leaves, i: int, chosen: Trail
) -> bool:
    if i == len(checks):
        return all(_absent(path, leaves, chosen) for path in absent)
    path, test = checks[i]
    for key, trail in leaves.get(path, ()):
        if test(key):
            merged = merge_trails(chosen, trail)
            if merged is not None and _search(checks, absent, leaves, i + 1, merged):
                return True
    return False


def _absent(path: str, leaves: Leaves, chosen: Trail) -> bool:
    return all(merge_trails(chosen, trail) is None for _, trail in leaves.get(path, ()))


def _why(checks: tuple[_Check, ...], absent: tuple[str, ...], leaves: Leaves) -> str:
    for path, test in checks:
        found = leaves.get(path)
        if not found:
            return f"{path}: no value in the event (missing, an object, or an empty array)"
        if not any(test(key) for key, _ in found):
            values = ", ".join(_show(key) for key, _ in found[:5])
            return f"{path}: no value matches the pattern (event has {values})"
    for path in absent:
        if path in leaves:
            return f"{path}: present, but the pattern says exists: false"
    return f"{checks[0][0]}: the matching values are in different elements of the same array"


def _show(key: Key) -> str:
    """A leaf as the event wrote it: ``"a"``, ``5`` (not ``5.0``), ``null``."""
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return json.dumps(key) if isinstance(key, str) else str(key)


def compile_pattern(pattern: Mapping[str, Any] | str | CompiledPattern) -> CompiledPattern:
    """Validate and compile ``pattern`` (a dict, or JSON text); ``InvalidPatternError`` if bad."""
    if isinstance(pattern, CompiledPattern):
        return pattern
    branches = parse_pattern(pattern, max_chars=get_settings().max_pattern_chars)
    return CompiledPattern(branches, pattern)
