"""The ``wildcard`` operator: parsing with event-ruler's rules, a complexity measure, matching.

``*`` matches zero or more characters and is the only metacharacter; ``\\*`` is a literal
asterisk and ``\\\\`` a literal backslash. A parsed wildcard is its literal segments, split at
each ``*``: ``"a*b*c"`` -> ``("a", "b", "c")``, so matching needs no regular expression and no
backtracking (a greedy left-to-right search is exact when ``*`` is the only metacharacter).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "MAX_WILDCARD_COMPLEXITY",
    "WildcardSyntaxError",
    "parse_wildcard",
    "wildcard_complexity",
    "wildcard_matches",
]

# The most NFA states one input can keep active at once (see ``wildcard_complexity``). AWS
# refuses ``*:*:*:*:*:event-bus/*`` (13) and accepts ``/Users/*/dir/dir/dir/dir/dir/doc.txt``
# (8); ordinary patterns such as ``*/dir/*.png`` measure 5.
MAX_WILDCARD_COMPLEXITY = 10
# Subsets explored before a pattern is declared too complex regardless of its measure.
_MAX_EXPLORED = 4096
_STAR = None


class WildcardSyntaxError(ValueError):
    """A wildcard value event-ruler's parser refuses; the message is its text."""


def _items(text: str) -> list[str | None]:
    """Characters and stars (``None``); error positions count UTF-8 bytes, as event-ruler does."""
    items: list[str | None] = []
    # event-ruler parses the value with a leading quote, so its byte positions start at 1.
    pos, i = 1, 0
    while i < len(text):
        ch = text[i]
        if ch == "*":
            if text.startswith("*", i + 1):
                raise WildcardSyntaxError(f"Consecutive wildcard characters at pos {pos}")
            items.append(_STAR)
        elif ch == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt not in ("*", "\\"):
                raise WildcardSyntaxError(f"Invalid escape character at pos {pos}")
            items.append(nxt)
            i, pos = i + 1, pos + 1
        else:
            items.append(ch)
        # Positions count UTF-8 bytes; a lone surrogate (a JSON "\\udXXX" escape) counts as 3.
        pos += len(ch.encode("utf-8", "surrogatepass"))
        i += 1
    return items


def parse_wildcard(text: str) -> tuple[str, ...]:
    """``"a*b\\\\*c"`` -> ``("a", "b*c")``: the literal segments between unescaped stars."""
    segments: list[str] = []
    current: list[str] = []
    for item in _items(text):
        if item is _STAR:
            segments.append("".join(current))
            current = []
        else:
            current.append(item)
    segments.append("".join(current))
    return tuple(segments)


def wildcard_matches(segments: Sequence[str], value: str) -> bool:
    """Whether ``value`` matches the whole wildcard given as its segments."""
    if len(segments) == 1:
        return value == segments[0]
    first, last = segments[0], segments[-1]
    if len(value) < len(first) + len(last) or not value.startswith(first):
        return False
    if not value.endswith(last):
        return False
    pos, end = len(first), len(value) - len(last)
    for middle in segments[1:-1]:
        found = value.find(middle, pos, end)
        if found < 0:
            return False
        pos = found + len(middle)
    return True


def wildcard_complexity(text: str) -> int:
    """The most states of the pattern's NFA that one input string can keep active together.

    This is event-ruler's idea (``MachineComplexityEvaluator``: non-determinism, not a count of
    ``*``) measured on one pattern: a subset construction over the pattern's own characters plus
    one "other" character, reporting the largest reachable subset. States are the positions in
    the pattern, a star's position included. A run of ``:`` keeps every star of
    ``*:*:*:*:*:event-bus/*`` and the colon after it alive (13); repeats after one star, as in
    ``/Users/*/dir/dir/dir/dir/dir/doc.txt``, keep one state per repeat (8); ``*.png`` is 3.
    """
    items = _items(text)
    start = _closure(items, {0})
    alphabet = {item for item in items if item is not _STAR} | {""}
    seen, todo, worst = {start}, [start], len(start)
    while todo:
        states = todo.pop()
        for ch in alphabet:
            nxt = _step(items, states, ch)
            if nxt and nxt not in seen:
                worst = max(worst, len(nxt))
                if worst > MAX_WILDCARD_COMPLEXITY or len(seen) >= _MAX_EXPLORED:
                    return max(worst, MAX_WILDCARD_COMPLEXITY + 1)
                seen.add(nxt)
                todo.append(nxt)
    return worst


def _closure(items: list[str | None], states: set[int]) -> frozenset[int]:
    out = set()
    for i in states:
        out.add(i)
        while i < len(items) and items[i] is _STAR:
            i += 1
            out.add(i)
    return frozenset(out)


def _step(items: list[str | None], states: frozenset[int], ch: str) -> frozenset[int]:
    nxt = set()
    for i in states:
        if i < len(items):
            if items[i] is _STAR:
                nxt.add(i)
            elif items[i] == ch:
                nxt.add(i + 1)
    return _closure(items, nxt)
