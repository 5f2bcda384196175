"""JSONata as Step Functions runs it: one test per rule, properties where one fits."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventbus.errors import StatesError
from eventbus.workflows.jsonata import (
    UNDEFINED,
    Generators,
    evaluate,
    expression_text,
    is_expression,
    require_type,
    resolve,
    syntax_error,
)

STATE_INPUT = {"order": {"id": "o-1", "items": [{"price": 10, "qty": 2}, {"price": 5.5, "qty": 1}]}}
BINDINGS = {"states": {"input": STATE_INPUT, "context": {"State": {"Name": "S"}}}, "limit": 6}


def ev(expression: str, bindings: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return evaluate(expression, BINDINGS if bindings is None else bindings, **kwargs)


def cause_of(expression: str, field: str = "Output", **kwargs: Any) -> str:
    with pytest.raises(StatesError) as err:
        resolve(expression, BINDINGS, field=field, **kwargs)
    assert err.value.error == "States.QueryEvaluationError"
    assert err.value.cause is not None
    return err.value.cause


# --- the language: JSONata 2.0 results, as a guard when the engine is upgraded -------------

ORDER = {
    "items": [
        {"name": "a", "price": 10, "qty": 2},
        {"name": "b", "price": 5.5, "qty": 1},
        {"name": "c", "price": 1, "qty": 10},
    ]
}
LANGUAGE_BINDINGS = {"states": {"input": {"order": ORDER, "s": "Hello World", "n": None}}}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$sum($states.input.order.items.(price * qty))", 35.5),
        ("$states.input.order.items[price > 2].name", ["a", "b"]),
        ("$states.input.order.items[-1].name", "c"),
        ("$states.input.order.items^(price).name", ["c", "b", "a"]),
        ("$states.input.order.items{name: price}", {"a": 10, "b": 5.5, "c": 1}),
        ("$states.input.order.items#$i[$i = 1].name", "b"),
        ("$map([3, 1, 2], function($v) { $v * 2 })", [6, 2, 4]),
        ("$reduce([3, 1, 2], function($a, $b) { $a + $b })", 6),
        ("$split($states.input.s, ' ')", ["Hello", "World"]),
        ("$contains($states.input.s, /wor/i)", True),
        ("$contains('hello$world', /^hello\\$/)", True),
        ("$string(1.0)", "1"),
        ("$string({'a': 1})", '{"a":1}'),
        ("$number('2')", 2),
        ("1 & 2", "12"),
        ("$states.input.n", None),
        ("$exists($states.input.n)", True),
        ("$exists($states.input.nothing)", False),
        ("$keys($states.input.order)", "items"),
        ("$merge([{'a': 1}, {'b': 2}])", {"a": 1, "b": 2}),
        ("$round(2.5)", 2),
        ("$formatNumber(1234.5, '#,##0.00')", "1,234.50"),
        ("$fromMillis(0)", "1970-01-01T00:00:00.000Z"),
        ("$toMillis('2024-03-01T12:00:00.000Z')", 1709294400000),
        ("($x := 5; $y := $x * 2; $y)", 10),
        ("[1..3]", [1, 2, 3]),
        ("$states.input = '\"'", False),
        ("true ? 'y' : 'n'", "y"),
    ],
)
def test_the_jsonata_language(expression: str, expected: Any) -> None:
    assert ev(expression, LANGUAGE_BINDINGS) == expected


# --- recognising expressions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{% $states.input %}", True),
        ("{%$x%}", True),
        (" {% $x %}", False),
        ("{% $x %} ", False),
        ("$states.input", False),
        (1, False),
        (None, False),
        (["{% $x %}"], False),
    ],
)
def test_an_expression_is_a_string_in_percent_braces(value: Any, expected: bool) -> None:
    assert is_expression(value) is expected


def test_expression_text_drops_the_delimiters_and_surrounding_spaces() -> None:
    assert expression_text("{%  $states.input.a  %}") == "$states.input.a"


# --- evaluation ------------------------------------------------------------------------------


def test_states_and_variables_are_bound() -> None:
    assert ev("$states.input.order.id") == "o-1"
    assert ev("$states.context.State.Name") == "S"
    assert ev("$states.input.order.items[price > $limit].qty") == 2
    assert ev("$sum($states.input.order.items.(price * qty))") == 25.5


def test_undefined_and_null_are_told_apart() -> None:
    assert ev("$states.input.nothing") is UNDEFINED
    assert ev("$doesNotExist") is UNDEFINED
    assert ev("$x", {"x": None}) is None
    assert ev("null") is None


def test_integers_beyond_64_bits_become_doubles_as_in_javascript() -> None:
    assert ev("$x", {"x": 2**64}) == float(2**64)
    assert ev("$x.y[0] + 1", {"x": {"y": [-(2**70)]}}) == float(-(2**70))


def test_eval_is_not_available() -> None:
    with pytest.raises(StatesError) as err:
        ev("$eval('1 + 1')", field="Output/x")
    assert err.value.cause == (
        "The JSONata expression '$eval('1 + 1')' specified for the field 'Output/x' threw an error "
        "during evaluation. T1006: Attempted to invoke a non-function"
    )


def test_calling_an_unknown_function_gives_jsonatas_error_code() -> None:
    assert cause_of("{% $randomSeeded($states.input.order.id) %}", "Output/FunctionResult") == (
        "The JSONata expression '$randomSeeded($states.input.order.id)' specified for the field "
        "'Output/FunctionResult' threw an error during evaluation. "
        "T1006: Attempted to invoke a non-function"
    )


def test_type_errors_in_the_expression_are_query_evaluation_errors() -> None:
    cause = cause_of("{% 'a' + 1 %}")
    assert cause.startswith(
        "The JSONata expression ''a' + 1' specified for the field 'Output' threw an error during "
        "evaluation. T2001: "
    )


def test_a_result_out_of_number_range_is_an_error() -> None:
    assert cause_of("{% 1 / 0 %}").endswith(
        "threw an error during evaluation. D1001: Number out of range"
    )


def test_an_expression_that_does_not_parse_is_an_error() -> None:
    assert cause_of("{% ( %}") == (
        "The JSONata expression '(' specified for the field 'Output' threw an error during "
        "evaluation. S0207: Unexpected end of expression"
    )


def test_syntax_error_reports_what_does_not_parse() -> None:
    assert syntax_error("$states.input.a +") == "S0207: Unexpected end of expression"
    assert syntax_error("$states.input.a + 1") is None


def test_states_may_be_used_whole() -> None:
    assert ev("$states") == BINDINGS["states"]
    assert ev("$keys($states)") == ["input", "context"]


def test_states_reached_without_naming_a_part_is_whole() -> None:
    # Only the parts of $states an expression names are handed to the engine; any other use
    # of $states must still see all of it.
    assert ev("$lookup($states, 'context')") == {"State": {"Name": "S"}}
    assert ev("$states.input.order.id & $states.context.State.Name") == "o-1S"


def test_the_context_value_is_undefined() -> None:
    # Expressions reach the state's data through $states, never through `$`.
    assert ev("$exists($)") is False


# --- resolving a JSON value ------------------------------------------------------------------


def test_resolve_evaluates_expressions_anywhere_inside_a_value() -> None:
    template = {
        "static": "Hello",
        "id": "{% $states.input.order.id %}",
        "nested": {
            "list": [1, "{% $limit * 2 %}", {"deep": "{% $count($states.input.order.items) %}"}]
        },
        "not-evaluated": "$limit",
    }
    assert resolve(template, BINDINGS, field="Arguments") == {
        "static": "Hello",
        "id": "o-1",
        "nested": {"list": [1, 12, {"deep": 2}]},
        "not-evaluated": "$limit",
    }


def test_resolve_of_a_whole_field_expression() -> None:
    assert resolve("{% $states.input.order.id %}", BINDINGS, field="Output") == "o-1"
    assert resolve(True, BINDINGS, field="Condition") is True


def test_undefined_at_the_top_is_an_error_naming_the_field() -> None:
    assert cause_of("{% $doesNotExist %}") == (
        "The JSONata expression '$doesNotExist' specified for the field 'Output' returned nothing "
        "(undefined)."
    )


def test_undefined_inside_an_object_is_an_error_naming_the_key_path() -> None:
    with pytest.raises(StatesError) as err:
        resolve({"result": "{% $doesNotExist %}"}, BINDINGS, field="Assign")
    assert err.value.cause == (
        "The JSONata expression '$doesNotExist' specified for the field 'Assign/result' returned "
        "nothing (undefined)."
    )


# --- result types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "shown"),
    [
        ("'string'", "'string' for value: \"string\""),
        ("1", "'number' for value: 1"),
        ("null", "'null' for value: null"),
        ("true", "'boolean' for value: true"),
        ("{'foo': 'bar'}", '\'object\' for value: {"foo":"bar"}'),
    ],
)
def test_a_result_of_the_wrong_type_is_refused_with_aws_text(expression: str, shown: str) -> None:
    source = "{% " + expression + " %}"
    value = resolve(source, BINDINGS, field="Items")
    with pytest.raises(StatesError) as err:
        require_type(source, value, "array", field="Items")
    assert err.value.cause == (
        f"The JSONata expression '{expression}' specified for the field 'Items' returned an "
        f"unexpected result type. Expected 'array', but was {shown}"
    )


def test_a_function_result_is_an_unsupported_type() -> None:
    assert cause_of("{% $fn := function($x){$x} %}", "Items") == (
        "The JSONata expression '$fn := function($x){$x}' specified for the field 'Items' "
        "returned an unsupported result type."
    )


def test_a_value_of_the_right_type_passes() -> None:
    require_type("{% [1] %}", [1], "array", field="Items")


# --- the functions Step Functions adds -------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "size", "expected"),
    [
        ([0], 1, [[0]]),
        ([0], 5, [[0]]),
        ([0, 1, 2], 2, [[0, 1], [2]]),
        ([0, 1, 2, 3], 2, [[0, 1], [2, 3]]),
        ([0, 1, 2, 3], 3, [[0, 1, 2], [3]]),
    ],
)
def test_partition_splits_into_chunks(array: list[int], size: int, expected: list[Any]) -> None:
    assert ev("$partition($a, $n)", {"a": array, "n": size}) == expected


SAFE_INTEGERS = st.integers(-(2**53), 2**53)  # JSONata's numbers are doubles


@given(st.lists(SAFE_INTEGERS, max_size=30), st.integers(1, 10))
def test_partition_chunks_concatenate_to_the_input(array: list[int], size: int) -> None:
    chunks = ev("$partition($a, $n)", {"a": array, "n": size})
    assert [x for chunk in chunks for x in chunk] == array
    assert all(len(chunk) == size for chunk in chunks[:-1])
    assert all(0 < len(chunk) <= size for chunk in chunks)


def test_partition_refuses_a_size_below_one() -> None:
    with pytest.raises(StatesError):
        ev("$partition([1, 2], 0)")


@pytest.mark.parametrize(
    ("start", "end", "step", "expected"),
    [(0, 10, 3, [0, 3, 6, 9]), (1, 9, 2, [1, 3, 5, 7, 9]), (1, 9, 9, 1), (5, 1, -2, [5, 3, 1])],
)
def test_range_includes_the_end_and_a_single_value_stands_alone(
    start: int, end: int, step: int, expected: Any
) -> None:
    assert ev(f"$range({start}, {end}, {step})") == expected


@given(st.integers(-20, 20), st.integers(-20, 20), st.integers(1, 7))
def test_range_steps_from_start_towards_end(start: int, end: int, step: int) -> None:
    result = ev("$range($a, $b, $c)", {"a": start, "b": end, "c": step})
    values = result if isinstance(result, list) else [result]
    assert values == list(range(start, end + 1, step)) or (values == [[]] and start > end)


def test_range_refuses_a_zero_step() -> None:
    with pytest.raises(StatesError):
        ev("$range(1, 2, 0)")


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "900150983cd24fb0d6963f7d28e17f72"),
        ("SHA-1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("SHA-256", hashlib.sha256(b"abc").hexdigest()),
        ("SHA-384", hashlib.sha384(b"abc").hexdigest()),
        ("SHA-512", hashlib.sha512(b"abc").hexdigest()),
    ],
)
def test_hash_gives_the_hex_digest(algorithm: str, expected: str) -> None:
    assert ev(f"$hash('abc', '{algorithm}')") == expected


def test_hash_refuses_an_unknown_algorithm() -> None:
    with pytest.raises(StatesError):
        ev("$hash('abc', 'SHA-3')")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-0", 0),
        ("1", 1),
        ("1.1", 1.1),
        ("true", True),
        ('"HelloWorld"', "HelloWorld"),
        ('[1, 2, "HelloWorld"]', [1, 2, "HelloWorld"]),
        ('{"Arg1": 1, "Arg2": []}', {"Arg1": 1, "Arg2": []}),
    ],
)
def test_parse_reads_json_text(text: str, expected: Any) -> None:
    assert ev("$parse($t)", {"t": text}) == expected


def test_parse_refuses_text_that_is_not_json() -> None:
    with pytest.raises(StatesError):
        ev("$parse('{nope')")


JSON = st.recursive(
    st.none() | st.booleans() | SAFE_INTEGERS | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(JSON)
def test_parse_reads_back_any_json_text(value: Any) -> None:
    assert ev("$parse($t)", {"t": orjson.dumps(value).decode()}) == value


FIXED = Generators(
    random=lambda: 0.25,
    uuid=lambda: "00000000-0000-4000-8000-000000000000",
    clock=lambda: 1_709_294_400_123,  # 2024-03-01T12:00:00.123Z
)


def test_random_uuid_and_clock_draw_from_the_injected_generators() -> None:
    assert ev("$random()", generators=FIXED) == 0.25
    assert ev("$uuid()", generators=FIXED) == "00000000-0000-4000-8000-000000000000"
    assert ev("$millis()", generators=FIXED) == 1_709_294_400_123
    assert ev("$now()", generators=FIXED) == "2024-03-01T12:00:00.123Z"
    assert ev("$now('[Y0001]-[M01]-[D01] [H01]', '+0100')", generators=FIXED) == "2024-03-01 13"
    template = {"r": "{% $random() %}", "id": "{% $uuid() %}"}
    assert resolve(template, BINDINGS, field="Output", generators=FIXED) == {
        "r": 0.25,
        "id": "00000000-0000-4000-8000-000000000000",
    }


def test_random_with_a_seed_repeats_itself() -> None:
    first = ev("$random(7)")
    assert first == ev("$random(7)")
    assert 0 <= first < 1


def test_default_uuid_is_a_version_4_uuid() -> None:
    value = ev("$uuid()")
    assert isinstance(value, str) and len(value) == 36 and value[14] == "4"


@given(JSON)
def test_values_without_expressions_resolve_to_themselves(value: Any) -> None:
    assert resolve(value, BINDINGS, field="Output") == value
