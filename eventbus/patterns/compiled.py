"""``CompiledPattern``: one pattern, compiled once, matched against many events.

A branch matches when each positive field finds a leaf satisfying it, all the chosen leaves
come from the same element of any array they share, and no absent path has a leaf in those
elements. One pattern is matched by an automaton of its own, the same walk ``Matcher`` runs over
many patterns, so it has the same answers, the same linear cost and the same step budget.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from eventbus.patterns import nodes as n
from eventbus.patterns.automaton import Automaton
from eventbus.patterns.flatten import Leaves, PathTree, flatten
from eventbus.patterns.parse import parse_pattern
from eventbus.patterns.predicates import Predicate, compile_conditions
from eventbus.patterns.values import Key
from eventbus.settings import get_settings

__all__ = ["CompiledPattern", "compile_pattern"]

_Check = tuple[str, Predicate]


class CompiledPattern:
    """A valid pattern, ready to match; ``branches`` is what the matcher indexes."""

    __slots__ = ("_automaton", "_checks", "_tree", "branches", "fields", "paths", "source")

    def __init__(self, branches: tuple[n.Branch, ...], source: Mapping[str, Any] | str) -> None:
        self.branches = branches
        self.source = source
        # Only explain() reads these predicates: built then, not for every rule loaded.
        self._checks: tuple[tuple[tuple[_Check, ...], tuple[str, ...]], ...] | None = None
        self.paths = frozenset(
            [f.path for b in branches for f in b.positive] + [p for b in branches for p in b.absent]
        )
        self._tree = PathTree.of(self.paths)
        # The top-level fields the pattern names (a dotted key counts by its first part).
        self.fields = frozenset(path.split(".", 1)[0] for path in self.paths)
        self._automaton: Automaton | None = None  # built at the first match

    def __repr__(self) -> str:
        return f"CompiledPattern({self.source!r})"

    def leaves(self, event: dict[str, Any]) -> Leaves:
        if not isinstance(event, dict):
            raise TypeError(f"an event must be a JSON object, not {type(event).__name__}")
        return flatten(event, self._tree)[0]

    def matches(self, event: dict[str, Any], budget: int | None = None) -> bool:
        """Whether ``event`` (any dict; no envelope fields are required) matches.

        ``MatchBudgetExceededError`` past ``budget`` steps (default: ``EVENTBUS_MATCH_BUDGET``).
        """
        if self._automaton is None:
            self._automaton = Automaton()
            self._automaton.add("", self)
        if budget is None:
            budget = get_settings().match_budget
        return bool(self._automaton.match(event, budget))

    def explain(self, event: dict[str, Any], budget: int | None = None) -> str | None:
        """None when ``event`` matches, else ``<path>: <why>`` for each branch's failure."""
        if self.matches(event, budget):
            return None
        leaves = self.leaves(event)
        if self._checks is None:
            self._checks = tuple(
                (tuple((f.path, compile_conditions(f.conditions)) for f in b.positive), b.absent)
                for b in self.branches
            )
        reasons = [_why(checks, absent, leaves) for checks, absent in self._checks]
        return "; ".join(dict.fromkeys(reasons)) if len(reasons) > 1 else reasons[0]


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
