"""Hypothesis strategies: small JSON events, and patterns drawn from their own values.

Keys come from a tiny alphabet and values from a few strings and numbers, so that patterns
written from one event often hit fields and values of another, and both answers occur.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

KEYS = st.sampled_from(["a", "b", "c", "a.b"])
STRINGS = st.sampled_from(["", "x", "xy", "yx", "X", "10.0.0.1", "a*b", "5"])
NUMBERS = st.sampled_from([0, 1, 5, 5.0, -2.5, 1e300])
SCALARS = st.one_of(STRINGS, NUMBERS, st.booleans(), st.none())

JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
EVENTS = st.dictionaries(KEYS, JSON, max_size=4)


def _leaves(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item, path)]
    return [(path, value)]


@st.composite
def conditions(draw: st.DrawFn, value: Any) -> Any:
    """One match value, usually one that ``value`` satisfies."""
    if isinstance(value, str):
        options = [
            value,
            {"prefix": value[:1]},
            {"suffix": value[-1:]},
            {"equals-ignore-case": value.upper()},
            {"anything-but": value or "z"},
            {"anything-but": {"prefix": value[:1] or "z"}},
            {"wildcard": f"*{value[1:]}".replace("**", "*")},
            {"cidr": "10.0.0.0/24"},
        ]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        options = [
            value,
            {"numeric": [">=", value]},
            {"numeric": [">", value - 1, "<", value + 1]},
            {"numeric": ["<", value]},
            {"anything-but": value},
        ]
    else:
        options = [value]
    options += [{"exists": True}, {"exists": False}]
    return draw(st.sampled_from(options))


def _nest(path: str, values: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = values
    return out


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@st.composite
def patterns_from(draw: st.DrawFn, event: dict[str, Any]) -> dict[str, Any]:
    """A pattern on one to three of ``event``'s leaf paths (or made-up ones), maybe with $or."""
    leaves = _leaves(event, "") or [("a", "x")]
    pattern: dict[str, Any] = {}
    for path, value in draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=3)):
        if not path or path.endswith(".") or path.startswith("."):
            continue
        values = draw(st.lists(conditions(value), min_size=1, max_size=2))
        _merge(pattern, _nest(path, values))
    if not pattern:
        pattern = {"a": [{"exists": False}]}
    if draw(st.booleans()):
        pattern = {"$or": [pattern, {draw(KEYS): [draw(SCALARS)]}]}
    return pattern
