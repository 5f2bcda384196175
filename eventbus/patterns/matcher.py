"""``Matcher``: named patterns, matched together.

Adding a new name extends the automaton in place; replacing or removing a pattern rebuilds it
at the next ``match`` (rule sets change rarely and rebuilding 10,000 rules takes well under a
second), which keeps the automaton free of reference counting.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from eventbus.patterns.automaton import Automaton
from eventbus.patterns.compiled import CompiledPattern, compile_pattern
from eventbus.settings import get_settings

__all__ = ["Matcher"]


class Matcher:
    """``m.add("big-orders", {...}); m.match(event) -> ["big-orders"]``."""

    def __init__(self) -> None:
        self._patterns: dict[str, CompiledPattern] = {}
        self._automaton: Automaton | None = Automaton()

    def add(self, name: str, pattern: Mapping[str, Any] | str | CompiledPattern) -> None:
        """Add (or replace) the pattern called ``name``; ``InvalidPatternError`` if invalid."""
        compiled = compile_pattern(pattern)
        replacing = name in self._patterns
        self._patterns[name] = compiled
        if replacing:
            self._automaton = None
        elif self._automaton is not None:
            self._automaton.add(name, compiled)

    def remove(self, name: str) -> None:
        """Remove the pattern called ``name``; ``KeyError`` if there is none."""
        del self._patterns[name]
        self._automaton = None

    def match(self, event: dict[str, Any], budget: int | None = None) -> list[str]:
        """The names of the patterns ``event`` matches, each once, sorted.

        ``MatchBudgetExceededError`` past ``budget`` steps (default: ``EVENTBUS_MATCH_BUDGET``).
        """
        if self._automaton is None:
            self._automaton = Automaton()
            for name, compiled in self._patterns.items():
                self._automaton.add(name, compiled)
        if budget is None:
            budget = get_settings().match_budget
        return sorted(self._automaton.match(event, budget))

    def pattern(self, name: str) -> CompiledPattern:
        return self._patterns[name]

    def __len__(self) -> int:
        return len(self._patterns)

    def __contains__(self, name: object) -> bool:
        return name in self._patterns

    def __iter__(self) -> Iterator[str]:
        return iter(self._patterns)
