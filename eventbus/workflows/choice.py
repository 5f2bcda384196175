"""Choice rules as Step Functions evaluates them (pure: no I/O).

A JSONPath rule is a data test (``{"Variable": "$.x", "NumericEquals": 3}``) or a boolean
combination (``And``, ``Or``, ``Not``) of rules. Step Functions' semantics, which this module
follows:

* A comparison whose Variable (or ``*Path`` operand) has the wrong type is simply false: no
  error. ``NumericEquals`` compares numbers by value, so ``1`` equals ``1.0``.
* A Variable that selects nothing is a ``States.Runtime`` error, except under ``IsPresent``.
* ``StringMatches`` takes ``*`` as "any run of characters"; ``\\*`` and ``\\\\`` stand for a
  literal star and backslash.
* Timestamps are RFC 3339 with an upper-case ``T`` and ``Z`` (or a numeric offset) and any
  fractional seconds; they compare as instants, so ``+01:00`` and ``Z`` forms can be equal.
  A string that is not such a timestamp makes the comparison false.
* Strings compare by UTF-16 code units, as Java does.

A JSONata Choice state's rules carry a ``Condition`` instead: ``true``, ``false`` or a
``{% %}`` expression that must yield a boolean.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Final

from eventbus.errors import StatesError
from eventbus.jsonpath import MISSING
from eventbus.workflows import jsonata
from eventbus.workflows.paths import read_path

__all__ = ["choice_rule_matches", "choose_next", "no_choice_matched", "select_choice"]


def choose_next(
    state: Mapping[str, Any],
    data: Any,
    *,
    context: Any,
    variables: Mapping[str, Any],
    jsonata_bindings: Mapping[str, Any] | None = None,
    generators: jsonata.Generators = jsonata.SYSTEM,
) -> str:
    """The ``Next`` of the first matching choice, else ``Default``; an error without either."""
    rule = select_choice(
        state,
        data,
        context=context,
        variables=variables,
        jsonata_bindings=jsonata_bindings,
        generators=generators,
    )
    if rule is not None:
        return str(rule["Next"])
    if "Default" in state:
        return str(state["Default"])
    raise no_choice_matched()


def select_choice(
    state: Mapping[str, Any],
    data: Any,
    *,
    context: Any,
    variables: Mapping[str, Any],
    jsonata_bindings: Mapping[str, Any] | None = None,
    generators: jsonata.Generators = jsonata.SYSTEM,
) -> Mapping[str, Any] | None:
    """The first choice rule that holds (its ``Next``, ``Assign`` and ``Output`` apply), or
    None: then the state's ``Default`` and its own ``Assign``/``Output`` apply, and without a
    ``Default`` the state fails with ``no_choice_matched()``.

    JSONata rules (``Condition``) are evaluated with ``jsonata_bindings`` and ``generators``.
    """
    rules: Sequence[Mapping[str, Any]] = state.get("Choices", ())
    for rule in rules:
        if "Condition" in rule:
            if jsonata_bindings is None:
                raise ValueError("a Condition choice needs jsonata_bindings")
            matched = condition_holds(rule["Condition"], jsonata_bindings, generators)
        else:
            matched = choice_rule_matches(rule, data, context=context, variables=variables)
        if matched:
            return rule
    return None


def no_choice_matched() -> StatesError:
    """The failure of a Choice state where no rule holds and there is no ``Default``.

    Step Functions lists ``States.NoChoiceMatched`` among its error names but reports this
    case as a ``States.Runtime`` failure, with this cause.
    """
    return StatesError(
        "States.Runtime",
        "Failed to transition out of the state. The state does not point to a next state.",
    )


def condition_holds(
    condition: Any, bindings: Mapping[str, Any], generators: jsonata.Generators = jsonata.SYSTEM
) -> bool:
    """A JSONata ``Condition``: a boolean, or an expression that must evaluate to one."""
    value = jsonata.resolve(condition, bindings, field="Condition", generators=generators)
    jsonata.require_type(condition, value, "boolean", field="Condition")
    return bool(value)


def choice_rule_matches(
    rule: Mapping[str, Any], data: Any, *, context: Any, variables: Mapping[str, Any]
) -> bool:
    """Whether a JSONPath choice rule (data test or And/Or/Not) holds for ``data``."""
    if "And" in rule:
        return all(
            choice_rule_matches(r, data, context=context, variables=variables) for r in rule["And"]
        )
    if "Or" in rule:
        return any(
            choice_rule_matches(r, data, context=context, variables=variables) for r in rule["Or"]
        )
    if "Not" in rule:
        return not choice_rule_matches(rule["Not"], data, context=context, variables=variables)
    return _data_test(rule, data, context, variables)


def _data_test(
    rule: Mapping[str, Any], data: Any, context: Any, variables: Mapping[str, Any]
) -> bool:
    for name in rule:  # a plain loop: this runs for every Choice state entered
        if name in _OPERATORS or name == "IsPresent":
            break
    else:
        raise ValueError(f"choice rule has no comparison operator: {sorted(rule)}")
    path = rule["Variable"]
    value = _read(path, data, context, variables)
    if name == "IsPresent":
        return (value is not MISSING) == bool(rule[name])
    if value is MISSING:
        raise _invalid_path(path)
    expected = rule[name]
    if name.endswith("Path"):
        expected = _read(expected, data, context, variables)
        if expected is MISSING:
            raise _invalid_path(rule[name])
    return _OPERATORS[name](value, expected)


def _read(path: str, data: Any, context: Any, variables: Mapping[str, Any]) -> Any:
    try:
        return read_path(path, data, context=context, variables=variables)
    except StatesError:
        return MISSING


def _invalid_path(path: str) -> StatesError:
    return StatesError(
        "States.Runtime",
        f"Invalid path '{path}': The choice state's condition path references an invalid value.",
    )


# --- operand keys: a comparable form of a value, or None when the type does not fit ----------


def _number_key(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _string_key(value: Any) -> Any:
    # Java orders strings by UTF-16 code unit; big-endian UTF-16 bytes order the same way.
    return value.encode("utf-16-be", "surrogatepass") if isinstance(value, str) else None


def _boolean_key(value: Any) -> Any:
    return value if isinstance(value, bool) else None


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))"
)


def _timestamp_key(value: Any) -> tuple[int, int] | None:
    """An RFC 3339 timestamp as (seconds since the epoch, nanoseconds); None if not one."""
    if not isinstance(value, str):
        return None
    return _parse_timestamp(value)


@lru_cache(maxsize=4096)
def _parse_timestamp(text: str) -> tuple[int, int] | None:
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    offset = timedelta(0)
    if m.group(9):
        off_h, off_m = int(m.group(10)), int(m.group(11))
        if off_h > 18 or off_m > 59:
            return None
        offset = timedelta(hours=off_h, minutes=off_m) * (-1 if m.group(9) == "-" else 1)
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError:
        return None
    nanos = int((m.group(7) or "").ljust(9, "0"))
    return int(moment.timestamp()), nanos


def _compare(key: Callable[[Any], Any], op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def test(value: Any, expected: Any) -> bool:
        left, right = key(value), key(expected)
        return left is not None and right is not None and op(left, right)

    return test


@lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    """``*`` matches any run of characters; a backslash makes the next character literal."""
    parts: list[str] = []
    escaped = False
    for ch in pattern:
        if escaped:
            parts.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "*":
            parts.append(".*")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


def _string_matches(value: Any, pattern: Any) -> bool:
    if not isinstance(value, str) or not isinstance(pattern, str):
        return False
    return _wildcard(pattern).fullmatch(value) is not None


def _type_test(accepts: Callable[[Any], bool]) -> Callable[..., bool]:
    def test(value: Any, expected: Any) -> bool:
        return accepts(value) == bool(expected)

    return test


_ORDERINGS: Final = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "LessThanEquals": operator.le,
    "GreaterThan": operator.gt,
    "GreaterThanEquals": operator.ge,
}


def _operators() -> dict[str, Callable[[Any, Any], bool]]:
    ops: dict[str, Callable[[Any, Any], bool]] = {}
    families = {"String": _string_key, "Numeric": _number_key, "Timestamp": _timestamp_key}
    for family, key in families.items():
        for suffix, op in _ORDERINGS.items():
            ops[family + suffix] = ops[family + suffix + "Path"] = _compare(key, op)
    ops["BooleanEquals"] = ops["BooleanEqualsPath"] = _compare(_boolean_key, operator.eq)
    ops["StringMatches"] = _string_matches
    ops["IsNull"] = _type_test(lambda v: v is None)
    ops["IsNumeric"] = _type_test(lambda v: _number_key(v) is not None)
    ops["IsString"] = _type_test(lambda v: isinstance(v, str))
    ops["IsBoolean"] = _type_test(lambda v: isinstance(v, bool))
    ops["IsTimestamp"] = _type_test(lambda v: _timestamp_key(v) is not None)
    return ops


_OPERATORS: Final = _operators()
