"""Choice rules: one test per rule of Step Functions' Choice state semantics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventbus.errors import StatesError
from eventbus.workflows.choice import choice_rule_matches, choose_next, select_choice


def matches(rule: dict[str, Any], data: Any, variables: dict[str, Any] | None = None) -> bool:
    return choice_rule_matches(
        rule, data, context={"Execution": {"Id": "x"}}, variables=variables or {}
    )


def check(operator: str, value: Any, operand: Any) -> bool:
    return matches({"Variable": "$.v", operator: operand}, {"v": value})


JSON_VALUES = [
    None,
    True,
    False,
    0,
    1,
    1.5,
    "",
    "text",
    "2012-10-09T19:00:55Z",
    [],
    [1],
    {},
    {"a": 1},
]


# --- type mismatches are false, never an error -----------------------------------------------


@pytest.mark.parametrize("value", [v for v in JSON_VALUES if not isinstance(v, str)])
def test_string_operators_are_false_for_non_strings(value: Any) -> None:
    for op in ("StringEquals", "StringLessThan", "StringGreaterThanEquals", "StringMatches"):
        assert check(op, value, "text") is False


@pytest.mark.parametrize("value", [None, True, False, "1", [], [1], {}, {"a": 1}])
def test_numeric_operators_are_false_for_non_numbers(value: Any) -> None:
    for op in ("NumericEquals", "NumericLessThan", "NumericGreaterThanEquals"):
        assert check(op, value, 1) is False


@pytest.mark.parametrize("value", [None, 0, 1, "true", [], {}])
def test_boolean_equals_is_false_for_non_booleans(value: Any) -> None:
    assert check("BooleanEquals", value, True) is False
    assert check("BooleanEquals", value, False) is False


@pytest.mark.parametrize("value", [None, 0, True, [], {}, "", "2012-10-09", "2012-10-09 19:00:55Z"])
def test_timestamp_operators_are_false_for_non_timestamps(value: Any) -> None:
    for op in ("TimestampEquals", "TimestampLessThan", "TimestampGreaterThanEquals"):
        assert check(op, value, "2012-10-09T19:00:55Z") is False


def test_booleans_are_not_numbers() -> None:
    assert check("NumericEquals", True, 1) is False
    assert check("IsNumeric", True, True) is False


# --- numbers ---------------------------------------------------------------------------------


def test_numeric_equals_compares_int_and_float_by_value() -> None:
    assert check("NumericEquals", 1, 1.0) is True
    assert check("NumericEquals", 1.0, 1) is True
    assert check("NumericEquals", 0, 0.0) is True
    assert check("NumericEquals", 1.1, 1) is False


@pytest.mark.parametrize(
    ("op", "value", "operand", "expected"),
    [
        ("NumericLessThan", 0, 1, True),
        ("NumericLessThan", 1, 1, False),
        ("NumericLessThanEquals", 1, 1, True),
        ("NumericGreaterThan", 2, 1.5, True),
        ("NumericGreaterThan", 1, 1, False),
        ("NumericGreaterThanEquals", 1.0, 1, True),
        ("NumericGreaterThanEquals", -1, 0, False),
    ],
)
def test_numeric_orderings(op: str, value: Any, operand: Any, expected: bool) -> None:
    assert check(op, value, operand) is expected


# --- strings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value", "operand", "expected"),
    [
        ("StringEquals", "Hello", "Hello", True),
        ("StringEquals", "\t\n", "\t\r\n", False),
        ("StringLessThan", "A", "AB", True),
        ("StringLessThan", "", "", False),
        ("StringLessThanEquals", "", "", True),
        ("StringGreaterThan", "AB", "A", True),
        ("StringGreaterThan", "A", "A ", False),
        ("StringGreaterThanEquals", "AB", "A", True),
    ],
)
def test_string_comparisons(op: str, value: str, operand: str, expected: bool) -> None:
    assert check(op, value, operand) is expected


def test_strings_order_by_utf16_code_units() -> None:
    # U+FF5E is one code unit above the surrogates; U+1F600 is stored as two surrogates (D83D..).
    assert check("StringGreaterThan", "\uff5e", "\U0001f600") is True


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("log-*.txt", "log-2024.txt", True),
        ("log-*.txt", "log-.txt", True),
        ("log-*.txt", "log-2024.csv", False),
        ("*", "", True),
        ("a*b*c", "aXXbYYc", True),
        ("a*b*c", "acb", False),
        ("star\\*", "star*", True),
        ("star\\*", "stars", False),
        ("back\\\\slash", "back\\slash", True),
        ("dots.and+plus", "dots.and+plus", True),
        ("dots.and+plus", "dotsXand+plus", False),
        ("line*end", "line\nend", True),
    ],
)
def test_string_matches_wildcards_and_escapes(pattern: str, value: str, expected: bool) -> None:
    assert check("StringMatches", value, pattern) is expected


# --- booleans --------------------------------------------------------------------------------


def test_boolean_equals() -> None:
    assert check("BooleanEquals", True, True) is True
    assert check("BooleanEquals", False, False) is True
    assert check("BooleanEquals", False, True) is False


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value", "operand", "expected"),
    [
        ("TimestampEquals", "2012-10-09T19:00:55Z", "2012-10-09T19:00:55Z", True),
        ("TimestampEquals", "2012-10-09T20:00:55+01:00", "2012-10-09T19:00:55Z", True),
        ("TimestampEquals", "2012-10-09T18:30:55-00:30", "2012-10-09T19:00:55Z", True),
        ("TimestampEquals", "2012-10-09T19:00:55.000Z", "2012-10-09T19:00:55Z", True),
        ("TimestampLessThan", "2012-10-09T19:00:55.1Z", "2012-10-09T19:00:55.2Z", True),
        ("TimestampLessThan", "2012-10-09T19:00:55.000000001Z", "2012-10-09T19:00:55Z", False),
        ("TimestampGreaterThan", "2012-10-09T19:00:55.000000001Z", "2012-10-09T19:00:55Z", True),
        ("TimestampGreaterThanEquals", "2012-10-09T19:00:55Z", "2012-10-09T19:00:56Z", False),
        ("TimestampLessThanEquals", "2012-10-09T19:00:55Z", "2012-10-09T19:00:55Z", True),
    ],
)
def test_timestamps_compare_as_instants(op: str, value: str, operand: str, expected: bool) -> None:
    assert check(op, value, operand) is expected


@pytest.mark.parametrize(
    "text",
    [
        "2012-10-09t19:00:55Z",  # lower-case T
        "2012-10-09T19:00:55z",  # lower-case Z
        "2012-10-09T19:00:55",  # no offset
        "2012-10-09T19:00Z",  # no seconds
        "2012-13-09T19:00:55Z",  # month 13
        "2012-02-30T19:00:55Z",  # no such day
        "2012-10-09T25:00:55Z",  # hour 25
        "2023-02-24 12:15:56.832957",
    ],
)
def test_is_timestamp_refuses_what_is_not_rfc3339(text: str) -> None:
    assert check("IsTimestamp", text, True) is False
    assert check("IsTimestamp", text, False) is True


def test_is_timestamp_accepts_fractions_and_offsets() -> None:
    for text in (
        "2012-10-09T19:00:55Z",
        "2012-10-09T19:00:55.832957+05:30",
        "2016-02-29T00:00:00-08:00",
    ):
        assert check("IsTimestamp", text, True) is True


def rfc3339(moment: datetime, offset_minutes: int, fraction: str) -> str:
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    zone = "Z" if offset_minutes == 0 else local.strftime("%z")
    zone = zone if zone == "Z" else f"{zone[:3]}:{zone[3:]}"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + zone


MOMENTS = st.datetimes(datetime(1970, 1, 2), datetime(2100, 1, 1), timezones=st.just(UTC))
OFFSETS = st.integers(-14 * 60, 14 * 60)
FRACTIONS = st.sampled_from(["", "0", "5", "123", "000000001", "999999999"])


@given(MOMENTS.map(lambda m: m.replace(microsecond=0)), OFFSETS, OFFSETS, FRACTIONS)
def test_a_moment_written_with_any_offset_is_the_same_timestamp(
    moment: datetime, one: int, other: int, fraction: str
) -> None:
    left, right = rfc3339(moment, one, fraction), rfc3339(moment, other, fraction)
    assert check("TimestampEquals", left, right) is True
    assert check("TimestampLessThan", left, right) is False


@given(MOMENTS.map(lambda m: m.replace(microsecond=0)), OFFSETS, st.integers(1, 10**9))
def test_a_later_moment_is_a_greater_timestamp(moment: datetime, offset: int, nanos: int) -> None:
    earlier = rfc3339(moment, offset, "")
    later_moment = moment + timedelta(seconds=nanos // 10**9)
    later = rfc3339(later_moment, 0, f"{nanos % 10**9:09d}" if nanos % 10**9 else "")
    assert check("TimestampGreaterThan", later, earlier) is (later_moment > moment or nanos > 0)


@given(st.text(max_size=12))
def test_a_pattern_with_its_stars_and_backslashes_escaped_matches_only_itself(text: str) -> None:
    pattern = text.replace("\\", "\\\\").replace("*", "\\*")
    assert check("StringMatches", text, pattern) is True
    assert check("StringMatches", text + "x", pattern) is False
    assert check("StringMatches", text, "*") is True


@given(st.integers(-(2**53), 2**53))
def test_an_integer_equals_its_float(n: int) -> None:
    assert check("NumericEquals", n, float(n)) is True
    assert matches({"Variable": "$.a", "NumericEqualsPath": "$.b"}, {"a": n, "b": float(n)})


# --- type tests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "accepts"),
    [
        ("IsNull", lambda v: v is None),
        ("IsNumeric", lambda v: type(v) in (int, float)),
        ("IsString", lambda v: isinstance(v, str)),
        ("IsBoolean", lambda v: isinstance(v, bool)),
    ],
)
def test_type_tests_match_their_type_and_false_inverts(op: str, accepts: Any) -> None:
    for value in JSON_VALUES:
        assert check(op, value, True) is accepts(value)
        assert check(op, value, False) is (not accepts(value))


def test_is_present_on_present_and_missing_paths() -> None:
    assert matches({"Variable": "$.v", "IsPresent": True}, {"v": None}) is True
    assert matches({"Variable": "$.v", "IsPresent": False}, {"v": None}) is False
    assert matches({"Variable": "$.v", "IsPresent": True}, {}) is False
    assert matches({"Variable": "$.v", "IsPresent": False}, {}) is True
    assert matches({"Variable": "$.a.b", "IsPresent": False}, {"a": 1}) is True


# --- paths -----------------------------------------------------------------------------------


def test_path_variants_read_the_operand_from_the_input() -> None:
    data = {
        "v": 3,
        "limit": 3.0,
        "name": "a",
        "other": "b",
        "flag": True,
        "t": "2012-10-09T19:00:55Z",
    }
    assert matches({"Variable": "$.v", "NumericEqualsPath": "$.limit"}, data) is True
    assert matches({"Variable": "$.name", "StringLessThanPath": "$.other"}, data) is True
    assert matches({"Variable": "$.flag", "BooleanEqualsPath": "$.flag"}, data) is True
    assert matches({"Variable": "$.t", "TimestampEqualsPath": "$.t"}, data) is True


def test_path_variant_with_an_operand_of_another_type_is_false() -> None:
    data = {"v": 1, "s": "1", "b": True}
    assert matches({"Variable": "$.v", "NumericEqualsPath": "$.s"}, data) is False
    assert matches({"Variable": "$.b", "BooleanEqualsPath": "$.v"}, data) is False


def test_variable_may_read_workflow_variables_and_the_context() -> None:
    assert matches(
        {"Variable": "$answer", "StringEqualsPath": "$guess"}, {}, {"answer": "x", "guess": "x"}
    )
    assert matches({"Variable": "$$.Execution.Id", "StringEquals": "x"}, {}) is True


def test_missing_variable_is_a_runtime_error_with_aws_text() -> None:
    with pytest.raises(StatesError) as err:
        matches({"Variable": "$.missing", "NumericEquals": 1}, {"v": 1})
    assert err.value.error == "States.Runtime"
    assert err.value.cause == (
        "Invalid path '$.missing': The choice state's condition path references an invalid value."
    )


def test_missing_variable_is_an_error_for_type_tests_too() -> None:
    with pytest.raises(StatesError):
        matches({"Variable": "$.missing", "IsNull": True}, {})


def test_missing_path_operand_is_a_runtime_error() -> None:
    with pytest.raises(StatesError) as err:
        matches({"Variable": "$.v", "StringEqualsPath": "$.nope"}, {"v": "a"})
    assert err.value.cause is not None and "'$.nope'" in err.value.cause


# --- And / Or / Not --------------------------------------------------------------------------


def test_and_or_not_nest() -> None:
    data = {"type": "Private", "value": 22}
    in_twenties = {
        "And": [
            {"Variable": "$.value", "NumericGreaterThanEquals": 20},
            {"Variable": "$.value", "NumericLessThan": 30},
        ]
    }
    public = {"Not": {"Variable": "$.type", "StringEquals": "Private"}}
    assert matches(in_twenties, data) is True
    assert matches(public, data) is False
    assert matches({"Or": [public, in_twenties]}, data) is True
    assert matches({"Not": {"Or": [public, in_twenties]}}, data) is False
    assert matches({"And": [in_twenties, {"Not": public}]}, data) is True


def test_and_stops_at_the_first_false_rule() -> None:
    # The second rule would fail on its missing Variable; Step Functions never reaches it.
    rule = {"And": [{"Variable": "$.v", "IsNull": True}, {"Variable": "$.missing", "IsNull": True}]}
    assert matches(rule, {"v": 1}) is False


def test_or_stops_at_the_first_true_rule() -> None:
    rule = {"Or": [{"Variable": "$.v", "IsNull": False}, {"Variable": "$.missing", "IsNull": True}]}
    assert matches(rule, {"v": 1}) is True


@given(st.integers(-5, 5), st.integers(-5, 5))
def test_not_inverts_every_numeric_rule(value: int, operand: int) -> None:
    for op in ("NumericEquals", "NumericLessThan", "NumericGreaterThanEquals"):
        rule = {"Variable": "$.v", op: operand}
        assert matches({"Not": rule}, {"v": value}) is (not matches(rule, {"v": value}))


# --- choosing the next state -----------------------------------------------------------------

STATE = {
    "Type": "Choice",
    "Choices": [
        {"Variable": "$.n", "NumericLessThan": 0, "Next": "Negative", "Assign": {"sign": -1}},
        {"Variable": "$.n", "NumericEquals": 0, "Next": "Zero"},
        {"Variable": "$.n", "NumericLessThan": 100, "Next": "Small"},
    ],
    "Default": "Large",
    "Assign": {"sign": 1},
}


def choose(state: dict[str, Any], data: Any) -> str:
    return choose_next(state, data, context={}, variables={})


def test_first_matching_choice_wins() -> None:
    assert choose(STATE, {"n": -1}) == "Negative"
    assert choose(STATE, {"n": 0}) == "Zero"
    assert choose(STATE, {"n": 5}) == "Small"


def test_default_when_nothing_matches() -> None:
    assert choose(STATE, {"n": 500}) == "Large"
    assert choose(STATE, {"n": "500"}) == "Large"


def test_select_choice_gives_the_rule_that_holds_or_none_for_the_default() -> None:
    chosen = select_choice(STATE, {"n": -1}, context={}, variables={})
    assert chosen is not None
    assert chosen["Next"] == "Negative"
    assert chosen["Assign"] == {"sign": -1}
    assert select_choice(STATE, {"n": 500}, context={}, variables={}) is None


def test_no_match_and_no_default_fails_the_state() -> None:
    state = {"Type": "Choice", "Choices": STATE["Choices"]}
    with pytest.raises(StatesError) as err:
        choose(state, {"n": 500})
    assert err.value.error == "States.Runtime"
    assert err.value.cause == (
        "Failed to transition out of the state. The state does not point to a next state."
    )


# --- JSONata Condition -----------------------------------------------------------------------


def jsonata_choose(
    state: dict[str, Any], state_input: Any, variables: dict[str, Any] | None = None
) -> str:
    bindings = {"states": {"input": state_input, "context": {}}, **(variables or {})}
    return choose_next(state, state_input, context={}, variables={}, jsonata_bindings=bindings)


JSONATA_STATE = {
    "Type": "Choice",
    "QueryLanguage": "JSONata",
    "Choices": [
        {"Condition": "{% $not($states.input.type = 'Private') %}", "Next": "Public"},
        {"Condition": "{% $states.input.value = 0 %}", "Next": "ValueIsZero"},
        {
            "Condition": "{% $states.input.value >= 20 and $states.input.value < $limit %}",
            "Next": "Twenties",
        },
    ],
    "Default": "DefaultState",
}


def test_condition_expressions_pick_the_first_true_choice() -> None:
    assert jsonata_choose(JSONATA_STATE, {"type": "Public", "value": 0}, {"limit": 30}) == "Public"
    assert (
        jsonata_choose(JSONATA_STATE, {"type": "Private", "value": 0}, {"limit": 30})
        == "ValueIsZero"
    )
    assert (
        jsonata_choose(JSONATA_STATE, {"type": "Private", "value": 22}, {"limit": 30}) == "Twenties"
    )
    assert (
        jsonata_choose(JSONATA_STATE, {"type": "Private", "value": 22}, {"limit": 22})
        == "DefaultState"
    )


def test_condition_may_be_a_literal_boolean() -> None:
    state = {"Choices": [{"Condition": False, "Next": "A"}, {"Condition": True, "Next": "B"}]}
    assert jsonata_choose(state, {}) == "B"


def test_condition_that_is_not_a_boolean_is_a_query_evaluation_error() -> None:
    state = {"Choices": [{"Condition": "{% $states.input.value %}", "Next": "A"}], "Default": "B"}
    with pytest.raises(StatesError) as err:
        jsonata_choose(state, {"value": "yes"})
    assert err.value.error == "States.QueryEvaluationError"
    assert err.value.cause == (
        "The JSONata expression '$states.input.value' specified for the field 'Condition' returned "
        "an unexpected result type. Expected 'boolean', but was 'string' for value: \"yes\""
    )


def test_condition_yielding_nothing_is_a_query_evaluation_error() -> None:
    state = {"Choices": [{"Condition": "{% $states.input.absent %}", "Next": "A"}], "Default": "B"}
    with pytest.raises(StatesError) as err:
        jsonata_choose(state, {})
    assert err.value.cause == (
        "The JSONata expression '$states.input.absent' specified for the field 'Condition' "
        "returned nothing (undefined)."
    )
