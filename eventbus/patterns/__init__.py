"""The EventBridge event pattern language: compile once, match many.

``compile_pattern(p).matches(event)`` answers for one pattern; ``Matcher`` holds many named
patterns in one automaton and answers which of them an event matches, at a cost that depends on
the event rather than on the number of patterns. Pure: no I/O, no redis, no asyncio.
"""

from __future__ import annotations

from eventbus.patterns.compiled import CompiledPattern, compile_pattern
from eventbus.patterns.matcher import Matcher

__all__ = ["CompiledPattern", "Matcher", "compile_pattern"]
