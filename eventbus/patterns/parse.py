"""Pattern (a dict, or JSON text) -> branches, refusing what EventBridge refuses.

The checks run in the order event-ruler's streaming compiler meets them, so that a pattern with
several faults reports the same one EventBridge does, worded as EventBridge words it::

    parse_pattern({"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}]}})
    -> (Branch(positive=(Field("detail.total", {Numeric(low=100.0)}),
                         Field("source", {Exact("shop")})), absent=()),)

``$or`` expands into one branch per combination, as event-ruler does; a field repeated within
one branch keeps its last occurrence.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from eventbus.errors import InvalidPatternError
from eventbus.patterns import nodes as n
from eventbus.patterns.cidr import CidrError, parse_cidr
from eventbus.patterns.jsontext import JsonTextError, Pairs, load_pattern_text
from eventbus.patterns.numbers import is_json_number, pattern_number
from eventbus.patterns.values import FALSE, NULL, TRUE
from eventbus.patterns.wildcard import (
    MAX_WILDCARD_COMPLEXITY,
    WildcardSyntaxError,
    parse_wildcard,
    wildcard_complexity,
)

__all__ = ["MAX_OR_COMBINATIONS", "MAX_PATTERN_DEPTH", "parse_pattern"]

MAX_OR_COMBINATIONS = 1000
# Objects and arrays nested deeper than this are refused before anything recurses into them:
# enough for a field at the deepest Detail an event may carry (see eventbus.events).
MAX_PATTERN_DEPTH = 255
# A JSON string (skipped whole, brackets inside it do not nest) or one bracket.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
OR = "$or"
# Names that cannot be field names inside $or (event-ruler's reserved words).
_RESERVED_IN_OR = frozenset(
    [
        "exactly",
        "equals-ignore-case",
        "prefix",
        "suffix",
        "anything-but",
        "exists",
        "wildcard",
        "numeric",
        "cidr",
        "html",
        "=",
        "<",
        "<=",
        ">",
        ">=",
        "regex",
        "not-wildcard",
        "not-equals-ignore-case",
        "date-after",
        "date-on-or-after",
        "date-before",
        "date-on-or-before",
        "in-date-range",
        "ip-address-in-range",
        "ip-address-not-in-range",
    ]
)
_TOO_COMPLEX = (
    "Rule is too complex - try using fewer wildcard characters or fewer repeating character "
    "sequences after a wildcard character"
)
_TOO_MANY_NUMERIC = "Too many elements in numeric expression"
_ONE_KEY = "Only one key allowed in match expression"
_ANYTHING_BUT_VALUE = "Value of anything-but must be an array or single string/number value."

Rule = dict[str, frozenset[n.Condition]]


def _fail(path: str, reason: str) -> NoReturn:
    raise InvalidPatternError(path, reason)


def _is_object(value: Any) -> bool:
    return isinstance(value, (Pairs, Mapping))


def _is_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and not isinstance(value, Pairs)


def _pairs(value: Any) -> list[tuple[str, Any]]:
    return value if isinstance(value, Pairs) else [(str(k), v) for k, v in value.items()]


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _token_text(value: Any) -> str:
    """The text Jackson reports for a token: what the value looks like in JSON."""
    if isinstance(value, str):
        return value
    if _is_object(value):
        return "{"
    if _is_array(value):
        return "["
    return json.dumps(value)


def parse_pattern(pattern: Mapping[str, Any] | str, *, max_chars: int) -> tuple[n.Branch, ...]:
    """Every branch of ``pattern``, or ``InvalidPatternError`` naming the field and the reason."""
    document = _load(pattern, max_chars)
    if not _is_object(document):
        _fail("", "Filter is not an object")
    rules: list[Rule] = []
    _parse_object(_pairs(document), "", rules, in_or=False)
    return _branches(rules)


def _too_deep() -> NoReturn:
    _fail("", f"Pattern nests objects and arrays deeper than {MAX_PATTERN_DEPTH} levels")


def _text_depth_exceeds(text: str) -> bool:
    if text.count("[") + text.count("{") <= MAX_PATTERN_DEPTH:
        return False
    depth = 0
    for token in _STRING_OR_BRACKET.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > MAX_PATTERN_DEPTH:
                return True
        elif bracket in ("]", "}"):
            depth -= 1
    return False


def _value_depth_exceeds(value: Any) -> bool:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth == MAX_PATTERN_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _dumps_shallow(pattern: Mapping[str, Any]) -> str:
    """``pattern`` as compact JSON, ``InvalidPatternError`` if it nests too deep. Counting the
    brackets of the text first spares walking the value for the common pattern, which has far
    fewer than the limit; only a pattern with more brackets than that is walked level by level."""
    try:
        text: str | None = json.dumps(
            pattern, separators=(",", ":"), ensure_ascii=False, default=str
        )
    except RecursionError:  # nested far past the limit
        text = None
    shallow = text is not None and text.count("[") + text.count("{") <= MAX_PATTERN_DEPTH
    if not shallow and _value_depth_exceeds(pattern):
        _too_deep()
    if text is None:
        text = json.dumps(pattern, separators=(",", ":"), ensure_ascii=False, default=str)
    return text


def _load(pattern: Mapping[str, Any] | str, max_chars: int) -> Any:
    text = pattern if isinstance(pattern, str) else _dumps_shallow(pattern)
    if len(text) > max_chars:
        _fail("", f"Member must have length less than or equal to {max_chars}")
    if not isinstance(pattern, str):
        return pattern
    if _text_depth_exceeds(pattern):
        _too_deep()
    try:
        return load_pattern_text(pattern)
    except JsonTextError as e:
        _fail("", str(e))


def _parse_object(
    pairs: list[tuple[str, Any]], prefix: str, rules: list[Rule], in_or: bool
) -> None:
    if not pairs:
        _fail(prefix, "Empty objects are not allowed")
    for key, value in pairs:
        if key == OR:
            _parse_or(value, prefix, rules)
            continue
        path = _join(prefix, key)
        if in_or and key in _RESERVED_IN_OR:
            _fail(path, f"{key} is Ruler reserved fieldName which cannot be used inside {OR}.")
        if _is_object(value):
            _parse_object(_pairs(value), path, rules, in_or)
        elif _is_array(value):
            conditions = _parse_values(value, path)
            if not rules:
                rules.append({})
            for rule in rules:
                rule.pop(path, None)  # the last occurrence wins
                rule[path] = conditions
        else:
            _fail(path, f'"{key}" must be an object or an array')


def _parse_or(value: Any, prefix: str, rules: list[Rule]) -> None:
    path = _join(prefix, OR)
    if not _is_array(value):
        _fail(path, f"It must be an Array followed with {OR}.")
    before = [dict(rule) for rule in rules]
    rules.clear()
    for member in value:
        if not _is_object(member):
            _fail(path, f"Only JSON object is allowed in array of {OR} relationship.")
        expanded = [dict(rule) for rule in before] or [{}]
        _parse_object(_pairs(member), prefix, expanded, in_or=True)
        rules.extend(expanded)
        if len(rules) > MAX_OR_COMBINATIONS:
            _too_many_combinations(path)
    if len(value) < 2:
        _fail(path, f"There must have at least 2 Objects in {OR} relationship.")


def _too_many_combinations(path: str) -> NoReturn:
    _fail(path, f"Event pattern has more than {MAX_OR_COMBINATIONS} $or combinations")


def _branches(rules: list[Rule]) -> tuple[n.Branch, ...]:
    """Rules -> branches; a field allowing ``exists: false`` or values splits in two."""
    out: dict[n.Branch, None] = {}
    for rule in rules:
        options = [_field_options(path, conditions) for path, conditions in rule.items()]
        for combination in itertools.product(*options):
            positive = sorted((f for f in combination if isinstance(f, n.Field)), key=_path)
            absent = sorted(f for f in combination if isinstance(f, str))
            out[n.Branch(tuple(positive), tuple(absent))] = None
            if len(out) > MAX_OR_COMBINATIONS:
                _too_many_combinations("")
    return tuple(out)


def _path(field: n.Field) -> str:
    return field.path


def _field_options(path: str, conditions: frozenset[n.Condition]) -> list[n.Field | str]:
    absent = n.Exists(False)
    options: list[n.Field | str] = []
    if absent in conditions:
        options.append(path)
    if conditions - {absent}:
        options.append(n.Field(path, conditions - {absent}))
    return options


def _parse_values(values: Iterable[Any], path: str) -> frozenset[n.Condition]:
    conditions = [_parse_value(value, path) for value in values]
    if not conditions:
        _fail(path, "Empty arrays are not allowed")
    return frozenset(conditions)


def _parse_value(value: Any, path: str) -> n.Condition:
    if _is_object(value):
        return _parse_expression(_pairs(value), path)
    if isinstance(value, str):
        return n.Exact(value)
    if value is None:
        return n.Exact(NULL)
    if isinstance(value, bool):
        return n.Exact(TRUE if value else FALSE)
    if is_json_number(value):
        return n.Exact(_finite(value, path))
    _fail(path, "Match value must be String, number, true, false, or null")


def _finite(value: Any, path: str) -> float:
    number = pattern_number(value)
    if number is None:
        _fail(path, f"Cannot compare number : {_token_text(value)}")
    return number


def _parse_expression(pairs: list[tuple[str, Any]], path: str) -> n.Condition:
    if not pairs:
        _fail(path, "Match expression name not found")
    name, value = pairs[0]
    operator = _OPERATORS.get(name)
    if operator is None:
        _fail(path, f"Unrecognized match type {name}")
    condition = operator(value, path)
    if len(pairs) > 1:
        _fail(path, _TOO_MANY_NUMERIC if name in ("numeric", "anything-but") else _ONE_KEY)
    return condition


def _string(value: Any, path: str, reason: str) -> str:
    if not isinstance(value, str):
        _fail(path, reason)
    return value


def _op_exactly(value: Any, path: str) -> n.Condition:
    return n.Exact(_string(value, path, "exact match pattern must be a string"))


def _op_prefix(value: Any, path: str) -> n.Condition:
    if _is_object(value):
        return n.Prefix(_ignore_case_operand(value, path, "prefix").lower(), ignore_case=True)
    return n.Prefix(_string(value, path, "prefix match pattern must be a string"))


def _op_suffix(value: Any, path: str) -> n.Condition:
    if _is_object(value):
        return n.Suffix(_ignore_case_operand(value, path, "suffix").lower(), ignore_case=True)
    return n.Suffix(_string(value, path, "suffix match pattern must be a string"))


def _ignore_case_operand(value: Any, path: str, kind: str) -> str:
    """The text of ``{"equals-ignore-case": text}`` nested in a prefix or suffix."""
    pairs = _pairs(value)
    if not pairs:
        _fail(path, f"{kind.capitalize()} expression name not found")
    key, text = pairs[0]
    if key != "equals-ignore-case":
        _fail(path, f"Unsupported {kind} pattern: {key}")
    text = _string(text, path, "equals-ignore-case match pattern must be a string")
    if len(pairs) > 1:
        _fail(path, _ONE_KEY)
    return text


def _op_equals_ignore_case(value: Any, path: str) -> n.Condition:
    text = _string(value, path, "equals-ignore-case match pattern must be a string")
    return n.EqualsIgnoreCase(text.lower())


def _op_exists(value: Any, path: str) -> n.Condition:
    if value is not True and value is not False:
        _fail(path, "exists match pattern must be either true or false.")
    return n.Exists(value)


def _op_cidr(value: Any, path: str) -> n.Condition:
    text = _string(value, path, "prefix match pattern must be a string")  # sic, as AWS says
    try:
        return n.Cidr(parse_cidr(text))
    except CidrError as e:
        _fail(path, str(e))


def _wildcard_segments(text: str, path: str) -> tuple[str, ...]:
    try:
        segments = parse_wildcard(text)
    except WildcardSyntaxError as e:
        _fail(path, str(e))
    # The NFA has one state per character or star and one past the end, so a pattern that
    # short cannot exceed the limit: most wildcards skip the subset construction.
    short = len(text) + 1 <= MAX_WILDCARD_COMPLEXITY
    if not short and wildcard_complexity(text) > MAX_WILDCARD_COMPLEXITY:
        _fail(path, _TOO_COMPLEX)
    return segments


def _op_wildcard(value: Any, path: str) -> n.Condition:
    segments = _wildcard_segments(
        _string(value, path, "wildcard match pattern must be a string"), path
    )
    # The common shapes become operators the matcher indexes: "x", "x*" and "*x".
    if len(segments) == 1:
        return n.Exact(segments[0])
    if len(segments) == 2 and not segments[1]:
        return n.Prefix(segments[0])
    if len(segments) == 2 and not segments[0]:
        return n.Suffix(segments[1])
    return n.Wildcard(segments)


def _op_numeric(value: Any, path: str) -> n.Condition:
    if not _is_array(value):
        _fail(path, "Value of numeric must be an array.")
    items = list(value)
    if not items or not isinstance(items[0], str):
        _fail(path, f"Invalid member in numeric match: {_token_text(items[0]) if items else ']'}")
    operator = items[0]
    if operator not in ("=", "<", "<=", ">", ">="):
        _fail(path, f"Unrecognized numeric range operator: {operator}")
    bound = _numeric_operand(items, 1, operator, path)
    if operator in ("=", "<", "<="):
        if len(items) > 2:
            _fail(path, _TOO_MANY_NUMERIC)
        if operator == "=":
            return n.Exact(bound)
        return n.Numeric(high=bound, high_closed=operator == "<=")
    if len(items) == 2:
        return n.Numeric(low=bound, low_closed=operator == ">=")
    return _numeric_range(items, bound, operator == ">=", path)


def _numeric_range(items: list[Any], low: float, low_closed: bool, path: str) -> n.Condition:
    upper = items[2]
    if not isinstance(upper, str):
        _fail(path, f"Bad value in numeric range: {_token_text(upper)}")
    if upper not in ("<", "<="):
        _fail(path, f"Bad numeric range operator: {upper}")
    high = _numeric_operand(items, 3, upper, path)
    if len(items) > 4:
        _fail(path, "Too many terms in numeric range expression")
    if not low < high:
        _fail(path, "Bottom must be less than top")
    return n.Numeric(low, low_closed, high, upper == "<=")


def _numeric_operand(items: list[Any], index: int, operator: str, path: str) -> float:
    if index >= len(items) or not is_json_number(items[index]):
        _fail(path, f"Value of {'equals' if operator == '=' else operator} must be numeric")
    return _finite(items[index], path)


def _op_anything_but(value: Any, path: str) -> n.Condition:
    if _is_object(value):
        return _anything_but_object(_pairs(value), path)
    if _is_array(value):
        return _anything_but_list(value, path)
    if isinstance(value, str):
        return n.AnythingBut(frozenset([value]))
    if is_json_number(value):
        return n.AnythingBut(frozenset([_finite(value, path)]))
    _fail(path, _ANYTHING_BUT_VALUE)


def _anything_but_list(values: Iterable[Any], path: str) -> n.Condition:
    strings: set[str] = set()
    numbers: set[float] = set()
    for value in values:
        if isinstance(value, str):
            strings.add(value)
        elif is_json_number(value):
            numbers.add(_finite(value, path))
        else:
            _fail(path, "Inside anything but list, start|null|boolean is not supported.")
    if bool(strings) == bool(numbers):
        _fail(
            path,
            "Inside anything but list, either all values are number or string, "
            "mixed type is not supported",
        )
    return n.AnythingBut(frozenset(strings or numbers))


# What anything-but's object form says when one of its values is not a string.
_ANYTHING_BUT_KINDS = {
    "equals-ignore-case": (
        "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
    ),
    "prefix": "prefix/suffix match pattern must be a string",
    "suffix": "prefix/suffix match pattern must be a string",
    "wildcard": "wildcard match pattern must be a string",
}


def _anything_but_object(pairs: list[tuple[str, Any]], path: str) -> n.Condition:
    if not pairs:
        _fail(path, "Anything-But expression name not found")
    kind, operand = pairs[0]
    if kind not in _ANYTHING_BUT_KINDS:
        _fail(path, f"Unsupported anything-but pattern: {kind}")
    if not (_is_array(operand) or isinstance(operand, str) or is_json_number(operand)):
        _fail(path, _ANYTHING_BUT_VALUE)
    texts = _anything_but_texts(operand if _is_array(operand) else [operand], kind, path)
    if len(pairs) > 1:
        _fail(path, _TOO_MANY_NUMERIC)
    if kind == "prefix":
        return n.AnythingButPrefix(texts)
    if kind == "suffix":
        return n.AnythingButSuffix(texts)
    if kind == "equals-ignore-case":
        return n.AnythingButIgnoreCase(frozenset(t.lower() for t in texts))
    return n.AnythingButWildcard(frozenset(_wildcard_segments(t, path) for t in texts))


def _anything_but_texts(values: Iterable[Any], kind: str, path: str) -> frozenset[str]:
    texts = set()
    for value in values:
        text = _string(value, path, _ANYTHING_BUT_KINDS[kind])
        if not text and kind in ("prefix", "suffix"):
            _fail(path, "Null prefix/suffix not allowed")
        texts.add(text)
    return frozenset(texts)


_OPERATORS: dict[str, Callable[[Any, str], n.Condition]] = {
    "exactly": _op_exactly,
    "prefix": _op_prefix,
    "suffix": _op_suffix,
    "equals-ignore-case": _op_equals_ignore_case,
    "anything-but": _op_anything_but,
    "numeric": _op_numeric,
    "exists": _op_exists,
    "cidr": _op_cidr,
    "wildcard": _op_wildcard,
}
