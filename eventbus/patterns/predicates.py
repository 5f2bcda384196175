"""Conditions compiled into plain functions of a leaf's key (see ``values``).

These are what a single pattern runs, and what the matcher runs for the operators it does not
index. Every function receives the key of one scalar leaf value and answers whether it holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventbus.patterns import nodes as n
from eventbus.patterns.cidr import parse_ip
from eventbus.patterns.values import Key
from eventbus.patterns.wildcard import wildcard_matches

__all__ = ["Predicate", "compile_condition", "compile_conditions"]

Predicate = Callable[[Key], bool]


def _exact(c: n.Exact) -> Predicate:
    key = c.key
    return lambda v: v == key and type(v) is type(key)


def _prefix(c: n.Prefix) -> Predicate:
    text = c.text
    if c.ignore_case:
        return lambda v: type(v) is str and v.lower().startswith(text)
    return lambda v: type(v) is str and v.startswith(text)


def _suffix(c: n.Suffix) -> Predicate:
    text = c.text
    if c.ignore_case:
        return lambda v: type(v) is str and v.lower().endswith(text)
    return lambda v: type(v) is str and v.endswith(text)


def _equals_ignore_case(c: n.EqualsIgnoreCase) -> Predicate:
    text = c.text
    return lambda v: type(v) is str and v.lower() == text


def _anything_but(c: n.AnythingBut) -> Predicate:
    keys = c.keys
    # Keys of different JSON types never compare equal (values.py), so a number is "anything
    # but" a list of strings, and null or a boolean is anything but either.
    return lambda v: v not in keys


def _anything_but_prefix(c: n.AnythingButPrefix) -> Predicate:
    texts = tuple(c.texts)
    return lambda v: type(v) is not str or not v.startswith(texts)


def _anything_but_suffix(c: n.AnythingButSuffix) -> Predicate:
    texts = tuple(c.texts)
    return lambda v: type(v) is not str or not v.endswith(texts)


def _anything_but_ignore_case(c: n.AnythingButIgnoreCase) -> Predicate:
    texts = c.texts
    return lambda v: type(v) is not str or v.lower() not in texts


def _anything_but_wildcard(c: n.AnythingButWildcard) -> Predicate:
    patterns = tuple(c.patterns)
    return lambda v: type(v) is not str or not any(wildcard_matches(p, v) for p in patterns)


def _numeric(c: n.Numeric) -> Predicate:
    low, low_closed, high, high_closed = c.low, c.low_closed, c.high, c.high_closed

    def test(v: Key) -> bool:
        if type(v) is not float:
            return False
        above = v > low or (low_closed and v == low)
        return above and (v < high or (high_closed and v == high))

    return test


def _exists(c: n.Exists) -> Predicate:
    present = c.present
    return lambda v: present


def _cidr(c: n.Cidr) -> Predicate:
    network = c.network

    def test(v: Key) -> bool:
        if type(v) is not str:
            return False
        address = parse_ip(v)
        return address is not None and address.version == network.version and address in network

    return test


def _wildcard(c: n.Wildcard) -> Predicate:
    segments = c.segments
    return lambda v: type(v) is str and wildcard_matches(segments, v)


_BUILDERS: dict[type, Callable[[Any], Predicate]] = {
    n.Exact: _exact,
    n.Prefix: _prefix,
    n.Suffix: _suffix,
    n.EqualsIgnoreCase: _equals_ignore_case,
    n.AnythingBut: _anything_but,
    n.AnythingButPrefix: _anything_but_prefix,
    n.AnythingButSuffix: _anything_but_suffix,
    n.AnythingButIgnoreCase: _anything_but_ignore_case,
    n.AnythingButWildcard: _anything_but_wildcard,
    n.Numeric: _numeric,
    n.Exists: _exists,
    n.Cidr: _cidr,
    n.Wildcard: _wildcard,
}


def compile_condition(condition: n.Condition) -> Predicate:
    """``Prefix("us-")`` -> ``lambda key: type(key) is str and key.startswith("us-")``."""
    return _BUILDERS[type(condition)](condition)


def compile_conditions(conditions: frozenset[n.Condition]) -> Predicate:
    """One predicate that holds when any of ``conditions`` holds."""
    tests = tuple(compile_condition(c) for c in conditions)
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(test(v) for test in tests)
