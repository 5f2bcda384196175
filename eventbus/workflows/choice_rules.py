"""Definition-time checks of Choice rules: one top-level rule per entry with its Next, nested
rules (And, Or, Not) without one, one comparison per Variable rule, Condition only in JSONata.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from eventbus.workflows.diagnostics import Checker
from eventbus.workflows.schema import INVALID_PATH, language_field_message
from eventbus.workflows.syntax import is_jsonpath

__all__ = ["COMPARISONS", "check_choice_rule"]

_KINDS = ("String", "Numeric", "Boolean", "Timestamp")
_RELATIONS = ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
# Every comparison operator of a Variable rule; the `...Path` forms compare with another path.
COMPARISONS: Final = frozenset(
    {
        f"{kind}{relation}{path}"
        for kind in _KINDS
        for relation in _RELATIONS
        for path in ("", "Path")
    }
    - {"BooleanLessThan", "BooleanGreaterThan", "BooleanLessThanEquals"}
    - {"BooleanGreaterThanEquals", "BooleanLessThanPath", "BooleanGreaterThanPath"}
    - {"BooleanLessThanEqualsPath", "BooleanGreaterThanEqualsPath"}
    | {"StringMatches", "IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"}
)
_SELECTORS: Final = ("And", "Or", "Not", "Variable", "Condition")
_JSONPATH_RULE_FIELDS: Final = frozenset({"And", "Or", "Not", "Variable"}) | COMPARISONS
# Fields only a top-level rule (one with a Next) may carry.
_TOP_FIELDS: Final = frozenset({"Next", "Assign", "Output"})
_ANY_RULE_FIELDS: Final = frozenset({"Comment", "Condition"})
_JSONPATH_ONLY_FIELDS: Final = frozenset({"Variable", "And", "Or", "Not"})
_JSONATA_ONLY_FIELDS: Final = frozenset({"Condition", "Output"})


def check_choice_rule(
    checker: Checker, rule: Any, location: str, language: str, *, top: bool
) -> None:
    """Report every problem of one Choice rule (recursing into And, Or and Not)."""
    if not checker.expect_type(rule, dict, location):
        return
    if top:
        checker.require(rule, ("Next",), location)
    _check_rule_fields(checker, rule, location, language, top=top)
    selectors = [key for key in _SELECTORS if key in rule]
    if len(selectors) != 1:
        checker.fail(
            location,
            "The object must have only one of the following fields, "
            "[And, Or, Not, Variable, Condition]",
        )
    if "Assign" in rule and top:
        checker.check_assign(rule["Assign"], f"{location}/Assign", language)
    if "Variable" in rule:
        _check_comparison(checker, rule, location)
    for key in ("And", "Or"):
        if key in rule and checker.expect_type(rule[key], list, f"{location}/{key}"):
            if not rule[key]:
                checker.fail(f"{location}/{key}", "Value cannot be empty")
            for i, nested in enumerate(rule[key]):
                check_choice_rule(checker, nested, f"{location}/{key}[{i}]", language, top=False)
    if "Not" in rule:
        check_choice_rule(checker, rule["Not"], f"{location}/Not", language, top=False)


def _check_comparison(checker: Checker, rule: Mapping[str, Any], location: str) -> None:
    variable = rule["Variable"]
    if not isinstance(variable, str) or not is_jsonpath(variable):
        checker.fail(f"{location}/Variable", INVALID_PATH)
    operators = [key for key in rule if key in COMPARISONS]
    if len(operators) != 1:
        checker.fail(
            location,
            "This object should have only one of the following fields: [comparison operator]",
        )
    for operator in operators:
        value = rule[operator]
        if operator.endswith("Path") and not (isinstance(value, str) and is_jsonpath(value)):
            checker.fail(f"{location}/{operator}", INVALID_PATH)


def _check_rule_fields(
    checker: Checker, rule: Mapping[str, Any], location: str, language: str, *, top: bool
) -> None:
    """Fields a rule may not have: unknown ones, a nested rule's Next, the other language's."""
    refused = _JSONPATH_ONLY_FIELDS if language == "JSONata" else _JSONATA_ONLY_FIELDS
    for key in rule:
        known = key in _JSONPATH_RULE_FIELDS or key in _TOP_FIELDS or key in _ANY_RULE_FIELDS
        if not known or (key in _TOP_FIELDS and not top):
            checker.fail(location, f"Field '{key}' is not supported")
        elif key in refused:
            checker.fail(location, language_field_message(language, key))
