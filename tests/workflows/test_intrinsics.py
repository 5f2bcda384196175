"""The 18 intrinsic functions: results, argument checks, escapes and the nesting limit."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventbus.errors import InvalidExpression, StatesError
from eventbus.workflows.intrinsics import evaluate_intrinsic, parse_intrinsic

CONTEXT: dict[str, Any] = {"StateMachine": {"Id": "arn:sm", "Name": "orders-v2-prod"}}
VARS: dict[str, Any] = {"greeting": "Hi", "bias": 2}


def ev(expr: str, data: Any = None, *, random: float = 0.5) -> Any:
    return evaluate_intrinsic(
        expr,
        {} if data is None else data,
        context=CONTEXT,
        variables=VARS,
        uuid=lambda: "11111111-2222-4333-8444-555555555555",
        random=lambda: random,
    )


def fails(expr: str, data: Any = None) -> StatesError:
    with pytest.raises(StatesError) as caught:
        ev(expr, data)
    return caught.value


def assert_invalid_arguments(expr: str, data: Any = None) -> None:
    error = fails(expr, data)
    name = expr.split("(", 1)[0]
    assert (error.error, error.cause) == ("States.Runtime", f"Invalid arguments in {name}")


# --- parsing -----------------------------------------------------------------------------------


def test_arguments_may_be_literals_paths_variables_context_and_nested_calls() -> None:
    data = {"n": 3}
    expr = (
        "States.Array('s', 1, -2.5, true, false, null, $.n, $greeting, $$.StateMachine.Id, "
        "States.Array())"
    )
    assert ev(expr, data) == ["s", 1, -2.5, True, False, None, 3, "Hi", "arn:sm", []]


def test_string_literals_take_the_four_escapes() -> None:
    assert ev(r"States.Array('it\'s', '\{\}', 'a\\b')") == ["it's", "{}", "a\\b"]


@pytest.mark.parametrize("expr", [r"States.Format('say \"hi\"')", r"States.Array('\n')"])
def test_any_other_backslash_in_a_literal_makes_the_expression_invalid(expr: str) -> None:
    with pytest.raises(InvalidExpression):
        parse_intrinsic(expr)


@pytest.mark.parametrize(
    "expr",
    [
        "States.Nope(1)",
        "States.Array(1",
        "States.Array(1,)",
        "States.Array(1) extra",
        "States.Array('open)",
        "States.Array(oops)",
        "Format(1)",
    ],
)
def test_malformed_calls_and_unknown_functions_are_invalid(expr: str) -> None:
    with pytest.raises(InvalidExpression):
        parse_intrinsic(expr)


def test_at_most_ten_intrinsic_functions_fit_in_one_field() -> None:
    ten = "States.Array(" * 10 + ")" * 10
    assert parse_intrinsic(ten).name == "States.Array"
    with pytest.raises(InvalidExpression):
        parse_intrinsic("States.Array(" * 11 + ")" * 11)


def test_the_same_expression_text_is_parsed_once() -> None:
    assert parse_intrinsic("States.Array(1, 2)") is parse_intrinsic("States.Array(1, 2)")


@pytest.mark.parametrize(
    "expr", ["States.ArrayLength()", "States.ArrayRange(1, 5)", "States.UUID(1)", "States.Format()"]
)
def test_a_wrong_number_of_arguments_is_invalid(expr: str) -> None:
    assert_invalid_arguments(expr)


def test_a_path_argument_that_selects_nothing_fails_the_state() -> None:
    error = evaluate_intrinsic_with_field("States.ArrayLength($.missing)")
    assert error.cause == (
        "The JSONPath '$.missing' specified for the field 'n.$' could not be found "
        "in the input '{}'"
    )


def evaluate_intrinsic_with_field(expr: str) -> StatesError:
    with pytest.raises(StatesError) as caught:
        evaluate_intrinsic(expr, {}, context={}, variables={}, uuid=str, random=float, field="n.$")
    return caught.value


# --- States.Format -----------------------------------------------------------------------------


def test_format_fills_each_placeholder_in_order() -> None:
    assert ev("States.Format('{} and {}', $.a, $.b)", {"a": "x", "b": 2}) == "x and 2"


def test_format_prints_values_as_the_aws_runtime_does() -> None:
    data = {"n": None, "t": True, "f": 1.5, "big": 1e21, "l": [1, "a"], "o": {"k": "v", "m": 1}}
    expr = "States.Format('{}|{}|{}|{}|{}|{}', $.n, $.t, $.f, $.big, $.l, $.o)"
    assert ev(expr, data) == "null|true|1.5|1.0E21|[1, a]|{k=v, m=1}"


def test_format_takes_its_template_from_a_path() -> None:
    assert ev("States.Format($.t, $.name)", {"t": "Hello, {}.", "name": "Ada"}) == "Hello, Ada."


def test_format_keeps_escaped_braces_literal() -> None:
    assert ev(r"States.Format('\{\} is {}', 1)") == "{} is 1"


@pytest.mark.parametrize(
    "expr",
    [
        "States.Format('{} {}', 1)",
        "States.Format('{}', 1, 2)",
        "States.Format('Hello {', 1)",
        "States.Format('}')",
        "States.Format('Hello {{}}', 1)",
        "States.Format($.t)",
    ],
)
def test_format_refuses_mismatched_placeholders_stray_braces_and_non_string_templates(
    expr: str,
) -> None:
    assert_invalid_arguments(expr, {"t": 123})


# --- JSON ----------------------------------------------------------------------------------------


def test_string_to_json_parses_json_text() -> None:
    assert ev("States.StringToJson($.s)", {"s": '{"a": [1, 2.5, null]}'}) == {"a": [1, 2.5, None]}


def test_string_to_json_of_blank_text_is_null() -> None:
    assert ev("States.StringToJson($.s)", {"s": "  "}) is None


@pytest.mark.parametrize("value", ["{oops", 3, None])
def test_string_to_json_refuses_non_json_and_non_strings(value: Any) -> None:
    assert_invalid_arguments("States.StringToJson($.s)", {"s": value})


def test_json_to_string_writes_compact_json() -> None:
    data = {"v": {"Arg1": 1, "Arg2": [], "s": "x"}}
    assert ev("States.JsonToString($.v)", data) == '{"Arg1":1,"Arg2":[],"s":"x"}'


def test_json_to_string_writes_a_lone_surrogate_as_a_question_mark() -> None:
    assert ev("States.JsonToString($.v)", {"v": ["a\ud83c"]}) == '["a?"]'


def test_json_to_string_writes_floats_as_java_does() -> None:
    data = {"v": [1.5, 1e21, 0.0001, 2.0]}
    assert ev("States.JsonToString($.v)", data) == "[1.5,1.0E21,1.0E-4,2.0]"


def test_json_merge_is_shallow_the_second_object_winning() -> None:
    data = {"a": {"x": 1, "n": {"p": 1}}, "b": {"y": 2, "n": {"q": 2}}}
    assert ev("States.JsonMerge($.a, $.b, false)", data) == {"x": 1, "y": 2, "n": {"q": 2}}


@pytest.mark.parametrize(
    "expr", ["States.JsonMerge($.a, $.a, true)", "States.JsonMerge($.a, 1, false)"]
)
def test_json_merge_refuses_deep_merges_and_non_objects(expr: str) -> None:
    assert_invalid_arguments(expr, {"a": {"x": 1}})


# --- arrays --------------------------------------------------------------------------------------


def test_array_collects_its_arguments() -> None:
    assert ev("States.Array()") == []
    assert ev("States.Array($.a, 'b')", {"a": {"k": 1}}) == [{"k": 1}, "b"]


def test_array_partition_chunks_with_a_shorter_last_chunk() -> None:
    assert ev("States.ArrayPartition($.a, 4)", {"a": list(range(9))}) == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8],
    ]


def test_array_partition_truncates_a_fractional_chunk_size() -> None:
    assert ev("States.ArrayPartition($.a, 2.6)", {"a": [1, 2, 3]}) == [[1, 2], [3]]


@pytest.mark.parametrize("size", ["0", "-1", "0.6", "'2'", "null"])
def test_array_partition_needs_a_positive_chunk_size(size: str) -> None:
    assert_invalid_arguments(f"States.ArrayPartition($.a, {size})", {"a": [1]})


@given(items=st.lists(st.integers(), max_size=30), size=st.integers(min_value=1, max_value=12))
def test_array_partition_concatenates_back_to_its_input(items: list[int], size: int) -> None:
    chunks = ev(f"States.ArrayPartition($.a, {size})", {"a": items})
    assert [x for chunk in chunks for x in chunk] == items
    assert all(len(chunk) == size for chunk in chunks[:-1])


def test_array_contains_compares_as_json() -> None:
    data = {"a": [[1, 2], {"k": [1]}, True, 1]}
    assert ev("States.ArrayContains($.a, $.v)", {**data, "v": {"k": [1]}}) is True
    assert ev("States.ArrayContains($.a, $.v)", {**data, "v": [1, 2]}) is True
    assert ev("States.ArrayContains($.a, $.v)", {**data, "v": 1.0}) is False
    assert ev("States.ArrayContains($.a, $.v)", {"a": [1], "v": True}) is False


def test_array_range_includes_its_end() -> None:
    assert ev("States.ArrayRange(0, 9, 3)") == [0, 3, 6, 9]
    assert ev("States.ArrayRange(0, 10, 3)") == [0, 3, 6, 9]
    assert ev("States.ArrayRange(5, 1, -2)") == [5, 3, 1]
    assert ev("States.ArrayRange(5, 1, 1)") == []


def test_array_range_truncates_fractional_arguments() -> None:
    assert ev("States.ArrayRange(5.4, -0.6, -2.4)") == [5, 3, 1]


def test_array_range_holds_at_most_1000_items() -> None:
    assert len(ev("States.ArrayRange(1, 1000, 1)")) == 1000
    assert_invalid_arguments("States.ArrayRange(1, 1001, 1)")


@pytest.mark.parametrize("args", ["1, 10, 0", "1, 10, 0.49", "'a', 5, 1"])
def test_array_range_needs_numbers_and_a_non_zero_step(args: str) -> None:
    assert_invalid_arguments(f"States.ArrayRange({args})")


@given(start=st.integers(-50, 50), end=st.integers(-50, 50), step=st.integers(-7, 7).filter(bool))
def test_array_range_steps_from_start_without_passing_end(start: int, end: int, step: int) -> None:
    values = ev(f"States.ArrayRange({start}, {end}, {step})")
    assert values == list(range(start, end + (1 if step > 0 else -1), step))


def test_array_get_item_reads_one_index() -> None:
    assert ev("States.ArrayGetItem($.a, 1)", {"a": ["x", "y"]}) == "y"


@pytest.mark.parametrize("index", ["2", "-1", "'0'"])
def test_array_get_item_refuses_an_index_outside_the_array(index: str) -> None:
    assert_invalid_arguments(f"States.ArrayGetItem($.a, {index})", {"a": ["x", "y"]})


def test_array_length_counts_items() -> None:
    assert ev("States.ArrayLength($.a)", {"a": [None, [], {}]}) == 3
    assert_invalid_arguments("States.ArrayLength($.a)", {"a": "abc"})


def test_array_unique_keeps_first_occurrences_in_order() -> None:
    data = {"a": [1, 1, 1.0, True, None, None, "1", {"a": 1, "b": 2}, {"b": 2, "a": 1}, [1], [1]]}
    assert ev("States.ArrayUnique($.a)", data) == [1, 1.0, True, None, "1", {"a": 1, "b": 2}, [1]]


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["a", "b"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from("xy"), inner),
    max_leaves=4,
)


@given(st.lists(_json, max_size=8))
def test_array_unique_is_idempotent_and_keeps_every_distinct_item(items: list[Any]) -> None:
    unique = ev("States.ArrayUnique($.a)", {"a": items})
    assert ev("States.ArrayUnique($.a)", {"a": unique}) == unique
    assert all(ev("States.ArrayContains($.a, $.v)", {"a": unique, "v": item}) for item in items)


# --- encoding and hashing -----------------------------------------------------------------------


def test_base64_encodes_the_utf8_bytes() -> None:
    assert ev("States.Base64Encode('Data to encode')") == "RGF0YSB0byBlbmNvZGU="
    assert ev("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')") == "Data to encode"


@given(st.text(max_size=200))
def test_base64_decode_undoes_base64_encode(text: str) -> None:
    encoded = ev("States.Base64Encode($.s)", {"s": text})
    assert encoded == base64.b64encode(text.encode()).decode()
    assert ev("States.Base64Decode($.s)", {"s": encoded}) == text


def test_a_lone_surrogate_is_encoded_as_a_question_mark() -> None:
    assert ev("States.Base64Encode($.s)", {"s": "a\ud83c"}) == base64.b64encode(b"a?").decode()


@pytest.mark.parametrize("expr", ["States.Base64Encode($.s)", "States.Base64Decode($.s)"])
def test_base64_inputs_are_limited_to_10000_characters(expr: str) -> None:
    assert_invalid_arguments(expr, {"s": "QUJD" * 2501})


def test_base64_decode_takes_text_without_its_padding() -> None:
    assert ev("States.Base64Decode('SGk')") == "Hi"


@pytest.mark.parametrize("text", ["not base64!", "SGVsb", "//79"])
def test_base64_decode_refuses_text_that_is_not_base64_of_utf8(text: str) -> None:
    assert_invalid_arguments(f"States.Base64Decode('{text}')")


@pytest.mark.parametrize(
    ("algorithm", "name"),
    [("MD5", "md5"), ("SHA-1", "sha1"), ("SHA-256", "sha256"), ("SHA-384", "sha384"),
     ("SHA-512", "sha512")],
)  # fmt: skip
def test_hash_gives_the_hex_digest(algorithm: str, name: str) -> None:
    expected = hashlib.new(name, b"input data").hexdigest()
    assert ev(f"States.Hash('input data', '{algorithm}')") == expected


def test_hash_refuses_unknown_algorithms_and_inputs_over_10000_characters() -> None:
    assert_invalid_arguments("States.Hash('x', 'SHA-3')")
    assert_invalid_arguments("States.Hash($.s, 'MD5')", {"s": "x" * 10_001})


# --- maths, strings, ids ------------------------------------------------------------------------


def test_math_add_rounds_each_argument_half_up() -> None:
    assert ev("States.MathAdd(1.49, 1.5)") == 3
    assert ev("States.MathAdd(-1.5, -1.51)") == -3
    assert ev("States.MathAdd(-2.5, 0)") == -2
    assert ev("States.MathAdd($bias, -9)") == -7


def test_math_add_refuses_non_numbers() -> None:
    assert_invalid_arguments("States.MathAdd(1, 'NOT A NUMBER')")
    assert_invalid_arguments("States.MathAdd(true, 1)")


def test_math_random_draws_from_start_inclusive_to_end_exclusive() -> None:
    assert ev("States.MathRandom(10, 20)", random=0.0) == 10
    assert ev("States.MathRandom(10, 20)", random=0.99999) == 19
    assert ev("States.MathRandom(1.6, 5.4)", random=0.0) == 1


def test_math_random_with_a_seed_repeats_itself() -> None:
    first = ev("States.MathRandom(1, 1000, 42)", random=0.1)
    assert ev("States.MathRandom(1, 1000, 42)", random=0.9) == first
    assert 1 <= first < 1000


@pytest.mark.parametrize("args", ["1, 1", "10, 5", "1.4, 1.6", "'a', 10", "1, 10, null"])
def test_math_random_needs_an_increasing_integer_range(args: str) -> None:
    assert_invalid_arguments(f"States.MathRandom({args})")


def test_string_split_splits_on_each_delimiter_character_dropping_empty_tokens() -> None:
    assert ev("States.StringSplit(', , ,', ',')") == [" ", " "]
    assert ev("States.StringSplit('This.is+a,test=string', '.+,=')") == [
        "This",
        "is",
        "a",
        "test",
        "string",
    ]
    assert ev("States.StringSplit(',,,,', ',')") == []


def test_string_split_feeds_nested_calls() -> None:
    expr = (
        "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), "
        "States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))"
    )
    assert ev(expr) == "prod"


def test_uuid_comes_from_the_injected_generator() -> None:
    assert ev("States.UUID()") == "11111111-2222-4333-8444-555555555555"


_call_pieces = st.sampled_from(
    [*"$.[]()'\\,{} -019a", "States.Array(", "States.Format(", "true", "null", "$.x"]
)


@given(text=st.lists(_call_pieces, max_size=12).map("".join))
def test_any_text_either_parses_or_is_refused_as_invalid(text: str) -> None:
    with contextlib.suppress(InvalidExpression):
        parse_intrinsic("States.Array(" + text)
