"""The nearest known name to a misspelt one, for "did you mean" hints in rule-file problems."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest"]

# difflib's ratio: 0.75 keeps `urll` → `url` and `stram` → `stream` but not `kafka` → `bus`.
_CUTOFF = 0.75


def _normal(name: str) -> str:
    # Case and separators are the usual slips (`detailType`, `detail_type`, `Name` for `name`).
    return name.lower().replace("_", "").replace("-", "")


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``word`` most likely meant, or None when none is close enough."""
    by_normal: dict[str, str] = {}
    for candidate in candidates:
        by_normal.setdefault(_normal(candidate), candidate)
    normal = _normal(word)
    if normal in by_normal:
        return by_normal[normal]
    found = difflib.get_close_matches(normal, list(by_normal), n=1, cutoff=_CUTOFF)
    return by_normal[found[0]] if found else None
