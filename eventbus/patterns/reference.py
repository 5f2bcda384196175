"""A deliberately naive evaluator of patterns: the oracle the tests compare the matcher with.

It shares no code with the compiler or the matcher. It reads the pattern as written (a valid
one: call ``compile_pattern`` first), lists every leaf of the event, and tries every way of
picking one leaf (or none, where ``exists: false`` allows it) for each field, checking array
consistency on each complete pick. Exponential, and never used outside tests.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["reference_matches"]

_ABSENT = object()


def reference_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    leaves = list(_leaves(event, "", ()))
    return any(_rule_matches(rule, leaves) for rule in _rules(pattern, ""))


def _rules(obj: dict[str, Any], prefix: str) -> list[dict[str, list[Any]]]:
    """The pattern's $or expansion: each rule maps a dotted path to its list of match values."""
    rules: list[dict[str, list[Any]]] = [{}]
    for key, value in obj.items():
        if key == "$or":
            options = [r for member in value for r in _rules(member, prefix)]
            rules = [{**rule, **option} for rule in rules for option in options]
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            rules = [{**rule, **sub} for rule in rules for sub in _rules(value, path)]
        else:
            rules = [{**rule, path: list(value)} for rule in rules]
    return rules


def _leaves(value: Any, path: str, trail: tuple[Any, ...]) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else key, trail)
    elif isinstance(value, list):
        marker = object()  # this array, told apart from every other by identity
        for index, item in enumerate(value):
            yield from _leaves(item, path, (*trail, (marker, index)))
    else:
        yield path, value, trail


def _consistent(trails: list[Any]) -> bool:
    chosen: dict[Any, int] = {}
    for trail in trails:
        for marker, index in trail:
            if chosen.setdefault(marker, index) != index:
                return False
    return True


def _rule_matches(rule: dict[str, list[Any]], leaves: list[tuple[str, Any, Any]]) -> bool:
    options = []
    for path, values in rule.items():
        picks: list[Any] = [
            leaf for leaf in leaves if leaf[0] == path and _any_holds(values, leaf[1])
        ]
        if {"exists": False} in values:
            picks.append(_ABSENT)
        options.append([(path, pick) for pick in picks])
    for combination in itertools.product(*options):
        trails = [pick[2] for _, pick in combination if pick is not _ABSENT]
        if not _consistent(trails):
            continue
        absent = [path for path, pick in combination if pick is _ABSENT]
        if all(not _consistent([*trails, leaf[2]]) for leaf in leaves if leaf[0] in absent):
            return True
    return False


def _any_holds(values: list[Any], leaf: Any) -> bool:
    return any(_holds(value, leaf) for value in values)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(literal: Any, leaf: Any) -> bool:
    if isinstance(literal, str) or isinstance(leaf, str):
        return isinstance(literal, str) and isinstance(leaf, str) and literal == leaf
    if _is_number(literal) or _is_number(leaf):
        return _is_number(literal) and _is_number(leaf) and float(literal) == float(leaf)
    return literal is leaf


def _holds(value: Any, leaf: Any) -> bool:
    if not isinstance(value, dict):
        return _same(value, leaf)
    ((operator, operand),) = value.items()
    return bool(_OPERATORS[operator](operand, leaf))


def _text_op(test: Any) -> Any:
    def op(operand: Any, leaf: Any) -> bool:
        if not isinstance(leaf, str):
            return False
        if isinstance(operand, dict):
            return bool(test(leaf.lower(), operand["equals-ignore-case"].lower()))
        return bool(test(leaf, operand))

    return op


def _anything_but(operand: Any, leaf: Any) -> bool:
    if isinstance(operand, dict):
        ((kind, texts),) = operand.items()
        texts = texts if isinstance(texts, list) else [texts]
        if not isinstance(leaf, str):
            return True
        tests: dict[str, Callable[[str], bool]] = {
            "prefix": lambda t: leaf.startswith(t),
            "suffix": lambda t: leaf.endswith(t),
            "equals-ignore-case": lambda t: leaf.lower() == t.lower(),
            "wildcard": lambda t: _wildcard(t, leaf),
        }
        return not any(tests[kind](t) for t in texts)
    values = operand if isinstance(operand, list) else [operand]
    return not any(_same(v, leaf) for v in values)


def _numeric(operand: list[Any], leaf: Any) -> bool:
    if not _is_number(leaf):
        return False
    compare = {
        "=": lambda a, b: a == b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    pairs = zip(operand[::2], operand[1::2], strict=True)
    return all(compare[op](float(leaf), float(bound)) for op, bound in pairs)


def _cidr(operand: str, leaf: Any) -> bool:
    if not isinstance(leaf, str) or not re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]*:[0-9a-fA-F:]*", leaf):
        return False
    try:
        return ipaddress.ip_address(leaf) in ipaddress.ip_network(operand, strict=False)
    except ValueError:
        return False


def _wildcard(operand: str, leaf: Any) -> bool:
    if not isinstance(leaf, str):
        return False
    parts, literal, i = [], "", 0
    while i < len(operand):
        if operand[i] == "\\":
            literal += operand[i + 1]
            i += 2
            continue
        if operand[i] == "*":
            parts.append(re.escape(literal) + ".*")
            literal = ""
        else:
            literal += operand[i]
        i += 1
    return re.fullmatch("".join(parts) + re.escape(literal), leaf, re.DOTALL) is not None


_OPERATORS: dict[str, Any] = {
    "exactly": lambda operand, leaf: isinstance(leaf, str) and leaf == operand,
    "prefix": _text_op(str.startswith),
    "suffix": _text_op(str.endswith),
    "equals-ignore-case": lambda operand, leaf: (
        isinstance(leaf, str) and leaf.lower() == operand.lower()
    ),
    "anything-but": _anything_but,
    "numeric": _numeric,
    "exists": lambda operand, leaf: operand is True,
    "cidr": _cidr,
    "wildcard": _wildcard,
}
