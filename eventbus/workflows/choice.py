"""Choice rules (pure): which branch a Choice state takes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from eventbus.errors import StatesError
from eventbus.workflows.paths import read_path

__all__ = ["choice_rule_matches", "choose_next", "select_choice"]

_MISSING = object()


def _ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _cmp(kind: str, a: Any, b: Any) -> int | None:
    if kind == "String":
        ok = isinstance(a, str) and isinstance(b, str)
    elif kind == "Numeric":
        ok = _is_num(a) and _is_num(b)
    elif kind == "Boolean":
        ok = isinstance(a, bool) and isinstance(b, bool)
    else:
        a, b = _ts(a), _ts(b)
        ok = a is not None and b is not None
    if not ok:
        return None
    return int((a > b) - (a < b))


_OPS = {
    "Equals": lambda c: c == 0,
    "LessThan": lambda c: c < 0,
    "GreaterThan": lambda c: c > 0,
    "LessThanEquals": lambda c: c <= 0,
    "GreaterThanEquals": lambda c: c >= 0,
}
_OP_RE = re.compile(r"^(String|Numeric|Boolean|Timestamp)(Equals|LessThan|GreaterThan"
                    r"|LessThanEquals|GreaterThanEquals)(Path)?$")


def _matches_glob(pattern: str, value: str) -> bool:
    rx = "".join(
        ".*" if part == "*" else re.escape(part.replace("\\*", "*").replace("\\\\", "\\"))
        for part in re.split(r"(?<!\\)(\*)", pattern)
    )
    return re.fullmatch(rx, value, re.S) is not None


def choice_rule_matches(  # noqa: C901 - one branch per operator family
    rule: Mapping[str, Any], data: Any, *, context: Any, variables: Mapping[str, Any]
) -> bool:
    if "And" in rule:
        return all(choice_rule_matches(r, data, context=context, variables=variables)
                   for r in rule["And"])
    if "Or" in rule:
        return any(choice_rule_matches(r, data, context=context, variables=variables)
                   for r in rule["Or"])
    if "Not" in rule:
        return not choice_rule_matches(rule["Not"], data, context=context, variables=variables)
    var = rule["Variable"]
    if "IsPresent" in rule:
        try:
            read_path(var, data, context=context, variables=variables)
            present = True
        except StatesError:
            present = False
        return present is rule["IsPresent"]
    value = read_path(var, data, context=context, variables=variables)
    for op, expected in rule.items():
        if op in ("Variable", "Next", "Comment", "Assign", "Output"):
            continue
        if op == "IsNull":
            return (value is None) is expected
        if op == "IsNumeric":
            return _is_num(value) is expected
        if op == "IsString":
            return isinstance(value, str) is expected
        if op == "IsBoolean":
            return isinstance(value, bool) is expected
        if op == "IsTimestamp":
            return (_ts(value) is not None) is expected
        if op == "StringMatches":
            return isinstance(value, str) and _matches_glob(expected, value)
        m = _OP_RE.match(op)
        if m is None:
            raise StatesError("States.Runtime", f"Unknown Choice operator '{op}'")
        if m.group(3):
            expected = read_path(expected, data, context=context, variables=variables)
        c = _cmp(m.group(1), value, expected)
        return c is not None and _OPS[m.group(2)](c)
    raise StatesError("States.Runtime", "Choice rule has no comparison")


def select_choice(
    state: Mapping[str, Any], data: Any, *, context: Any, variables: Mapping[str, Any],
    jsonata_bindings: Mapping[str, Any] | None = None,
) -> Mapping[str, Any] | None:
    """The first matching choice, or None when only the Default (if any) applies."""
    for choice in state.get("Choices", ()):
        if "Condition" in choice:
            from eventbus.workflows.jsonata import resolve

            cond = resolve(choice["Condition"], jsonata_bindings or {}, "Condition")
            if cond is True:
                return dict(choice)
        elif choice_rule_matches(choice, data, context=context, variables=variables):
            return dict(choice)
    return None


def choose_next(
    state: Mapping[str, Any], data: Any, *, context: Any, variables: Mapping[str, Any],
    jsonata_bindings: Mapping[str, Any] | None = None,
) -> str:
    choice = select_choice(state, data, context=context, variables=variables,
                           jsonata_bindings=jsonata_bindings)
    if choice is not None:
        return str(choice["Next"])
    if "Default" in state:
        return str(state["Default"])
    raise StatesError("States.NoChoiceMatched", "No Matches!")
