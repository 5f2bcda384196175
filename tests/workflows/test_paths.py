"""JSONPath-mode input and output processing: paths, payload templates, ResultPath."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventbus.errors import InvalidExpression, StatesError
from eventbus.workflows.paths import (
    apply_input_path,
    apply_items_path,
    apply_output_path,
    apply_result_path,
    evaluate_payload,
    invalid_payload_fields,
    is_path,
    is_reference_path,
    read_path,
)
from eventbus.workflows.query import compile_query

DOC: dict[str, Any] = {
    "order": {
        "id": "o-1",
        "items": [
            {"sku": "A", "price": 5, "tags": ["new"]},
            {"sku": "B", "price": 15},
            {"sku": "C", "price": 25, "tags": []},
        ],
    },
    "flag": True,
    "weird key": 1,
}
CONTEXT: dict[str, Any] = {
    "Execution": {"Id": "arn:aws:states:us-east-1:123456789012:execution:sm:run", "Input": {}},
    "Map": {"Item": {"Index": 2, "Value": "x"}},
}
VARS: dict[str, Any] = {"limit": 10, "cfg": {"mode": "fast", "levels": [1, 2]}}


def read(path: str, doc: Any = DOC) -> Any:
    return read_path(path, doc, context=CONTEXT, variables=VARS)


def payload(template: Any, doc: Any = DOC) -> Any:
    return evaluate_payload(
        template, doc, context=CONTEXT, variables=VARS, uuid=lambda: "u-1", random=lambda: 0.5
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", DOC),
        ("$.order.id", "o-1"),
        ("$['order']['id']", "o-1"),
        ('$["order"].items[1].sku', "B"),
        ("$.order.items[-1].sku", "C"),
        ("$['weird key']", 1),
    ],
)
def test_a_reference_path_selects_one_value(path: str, expected: Any) -> None:
    assert read(path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.order.items[*].sku", ["A", "B", "C"]),
        ("$.order.items[0,2].sku", ["A", "C"]),
        ("$.order.items[1:].sku", ["B", "C"]),
        ("$.order.items[:1].sku", ["A"]),
        ("$..sku", ["A", "B", "C"]),
        ("$.order.items[?(@.price > 10)].sku", ["B", "C"]),
        ("$.order.items[?(@.price >= 15 && @.tags)].sku", ["C"]),
        ("$.order.items[?(@.sku == 'A' || @.price == 25)].sku", ["A", "C"]),
        ("$.order.items[?(!@.tags)].sku", ["B"]),
        ("$.order.items[?(@.sku in ['B', 'Z'])].price", [15]),
        ("$.order.items[?(@.sku =~ /a/i)].price", [5]),
        ("$.order.items[?(@.sku =~ /[AB]/)].price", [5, 15]),
        ("$.order.items[?(@.sku =~ /.*/)].price", [5, 15, 25]),
        ("$.order.items[?(@.price < $.order.items[1].price)].sku", ["A"]),
        ("$.order.items[*].missing", []),
    ],
)
def test_a_path_with_wildcards_slices_unions_or_filters_yields_every_match(
    path: str, expected: Any
) -> None:
    assert read(path) == expected


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [("@ == 1", ["1", 1, 1.0]), ("@ == '1'", ["1", 1, 1.0]), ("@ == 1.0", [1, 1.0])],
)
def test_a_filter_compares_strings_and_numbers_as_jayway_does(filter_: str, expected: Any) -> None:
    assert read(f"$.v[?({filter_})]", {"v": ["1", 1, 1.0, "x", True]}) == expected


def test_a_regex_filter_matches_the_whole_string() -> None:
    assert read("$.words[?(@ =~ /b/)]", {"words": ["abc", "b", "B"]}) == ["b"]


def test_a_last_step_of_several_keys_gathers_them_into_one_object() -> None:
    assert read("$.order['id','nope','items']") == {"id": "o-1", "items": DOC["order"]["items"]}
    assert read("$.order.items[*]['sku','tags']") == [
        {"sku": "A", "tags": ["new"]},
        {"sku": "B"},
        {"sku": "C", "tags": []},
    ]


def test_a_double_dollar_path_reads_the_context_object() -> None:
    assert read("$$.Execution.Id") == CONTEXT["Execution"]["Id"]
    assert read("$$.Map.Item.Index") == 2
    assert read("$$") == CONTEXT


def test_a_dollar_name_path_reads_a_variable() -> None:
    assert read("$limit") == 10
    assert read("$cfg.levels[1]") == 2


def test_a_missing_leaf_fails_with_jayways_no_results_text() -> None:
    with pytest.raises(StatesError) as caught:
        read("$.order.nope")
    assert caught.value.error == "States.Runtime"
    assert caught.value.cause == (
        "Invalid path '$.order.nope' : No results for path: $['order']['nope']"
    )


def test_a_missing_intermediate_key_names_the_path_up_to_it() -> None:
    with pytest.raises(StatesError) as caught:
        read("$.nope.deeper")
    assert caught.value.cause == "Invalid path '$.nope.deeper' : Missing property in path $['nope']"


def test_a_key_step_into_a_non_object_fails_with_jayways_text() -> None:
    with pytest.raises(StatesError) as caught:
        read("$.order.id.x")
    assert (caught.value.cause or "").startswith(
        "Invalid path '$.order.id.x' : Expected to find an object with property ['x'] in path "
        "$['order']['id'] but found 'java.lang.String'."
    )


def test_an_index_past_the_end_selects_nothing() -> None:
    with pytest.raises(StatesError) as caught:
        read("$.order.items[7]")
    assert caught.value.cause == (
        "Invalid path '$.order.items[7]' : No results for path: $['order']['items'][7]"
    )


def test_a_context_path_is_quoted_without_its_first_dollar() -> None:
    with pytest.raises(StatesError) as caught:
        read("$$.Execution.Nope")
    assert caught.value.cause == (
        "Invalid path '$.Execution.Nope' : No results for path: $['Execution']['Nope']"
    )


def test_an_undefined_variable_is_a_runtime_error() -> None:
    with pytest.raises(StatesError) as caught:
        read("$unknown.x")
    assert caught.value.error == "States.Runtime"
    assert "'$unknown' is not defined" in (caught.value.cause or "")


def test_a_field_path_that_selects_nothing_names_the_field_and_quotes_the_input() -> None:
    with pytest.raises(StatesError) as caught:
        read_path("$.ErrorX", {"a": 1}, context=CONTEXT, variables=VARS, field="ErrorPath")
    assert caught.value.cause == (
        "The JSONPath '$.ErrorX' specified for the field 'ErrorPath' could not be found "
        """in the input '{"a":1}'"""
    )


@pytest.mark.parametrize("path", ["order", "$.a[", "$.a[?(@.x ==)]", "$.a.", "$[1:2:3]", "$.a b"])
def test_text_that_is_not_a_path_does_not_compile(path: str) -> None:
    with pytest.raises(InvalidExpression):
        compile_query(path)


def test_input_path_selects_the_effective_input() -> None:
    assert apply_input_path("$.order.id", DOC, context=CONTEXT, variables=VARS) == "o-1"
    assert apply_input_path("$", DOC, context=CONTEXT, variables=VARS) is DOC


def test_a_null_input_or_output_path_gives_an_empty_object() -> None:
    assert apply_input_path(None, DOC, context=CONTEXT, variables=VARS) == {}
    assert apply_output_path(None, DOC, context=CONTEXT, variables=VARS) == {}


def test_output_path_may_read_the_context_object_and_variables() -> None:
    assert apply_output_path("$$.Map.Item.Value", DOC, context=CONTEXT, variables=VARS) == "x"
    assert apply_output_path("$cfg.mode", DOC, context=CONTEXT, variables=VARS) == "fast"


def test_a_missing_output_path_fails_the_state() -> None:
    with pytest.raises(StatesError) as caught:
        apply_output_path("$.NoSuchOutputPath", {"a": 0}, context=CONTEXT, variables=VARS)
    assert caught.value.cause == (
        "Invalid path '$.NoSuchOutputPath' : No results for path: $['NoSuchOutputPath']"
    )


def test_items_path_selects_the_array_a_map_iterates() -> None:
    items = apply_items_path("$.order.items[*].sku", DOC, context=CONTEXT, variables=VARS)
    assert items == ["A", "B", "C"]
    assert apply_items_path(None, [1, 2], context=CONTEXT, variables=VARS) == [1, 2]


@pytest.mark.parametrize(
    ("path", "shown"), [("$", "$"), ("$.order", "$.order"), ("$$.Execution", "$.Execution")]
)
def test_items_path_must_select_an_array(path: str, shown: str) -> None:
    with pytest.raises(StatesError) as caught:
        apply_items_path(path, DOC, context=CONTEXT, variables=VARS)
    assert (caught.value.error, caught.value.cause) == (
        "States.Runtime",
        f'Reference path "{shown}" must point to array.',
    )


def test_payload_keys_ending_in_dollar_take_the_value_of_their_path() -> None:
    template = {
        "id.$": "$.order.id",
        "skus.$": "$.order.items[*].sku",
        "execution.$": "$$.Execution.Id",
        "mode.$": "$cfg.mode",
        "constant": "$.not.evaluated",
    }
    assert payload(template) == {
        "id": "o-1",
        "skus": ["A", "B", "C"],
        "execution": CONTEXT["Execution"]["Id"],
        "mode": "fast",
        "constant": "$.not.evaluated",
    }


def test_payload_templates_are_evaluated_at_every_depth_including_inside_arrays() -> None:
    template = {"outer": {"inner.$": "$.flag"}, "list": [{"sku.$": "$.order.items[0].sku"}, 3]}
    assert payload(template) == {"outer": {"inner": True}, "list": [{"sku": "A"}, 3]}


def test_a_payload_value_may_be_an_intrinsic_function_call() -> None:
    template = {
        "msg.$": "States.Format('order {} has {} items', $.order.id, 3)",
        "u.$": "States.UUID()",
    }
    assert payload(template) == {"msg": "order o-1 has 3 items", "u": "u-1"}


def test_a_payload_path_that_selects_nothing_names_its_field() -> None:
    with pytest.raises(StatesError) as caught:
        payload({"value.$": "$.no_such_jsonpath"}, {"int-literal": 0})
    assert caught.value.error == "States.Runtime"
    assert caught.value.cause == (
        "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be "
        """found in the input '{"int-literal":0}'"""
    )


def test_a_dollar_key_with_a_non_string_value_is_kept_as_written() -> None:
    assert payload({"n.$": 3}) == {"n.$": 3}


def test_result_path_null_discards_the_result() -> None:
    assert apply_result_path(None, {"a": 1}, {"r": 2}) == {"a": 1}


def test_result_path_dollar_replaces_the_input() -> None:
    assert apply_result_path("$", {"a": 1}, {"r": 2}) == {"r": 2}


def test_result_path_sets_into_a_copy_creating_missing_objects() -> None:
    state_input = {"a": {"keep": 1}}
    placed = apply_result_path("$.a.b.c", state_input, 5)
    assert placed == {"a": {"keep": 1, "b": {"c": 5}}}
    assert state_input == {"a": {"keep": 1}}


def test_result_path_may_replace_an_existing_value_or_array_element() -> None:
    assert apply_result_path("$.a", {"a": "old"}, "new") == {"a": "new"}
    assert apply_result_path("$.a[1]", {"a": [0, 1, 2]}, "x") == {"a": [0, "x", 2]}


@pytest.mark.parametrize(
    ("path", "state_input"),
    [("$.a", "text"), ("$.a.b", {"a": 3}), ("$.a.b", {"a": None}), ("$.a[5]", {"a": [1]})],
)
def test_result_path_through_something_not_an_object_fails(path: str, state_input: Any) -> None:
    with pytest.raises(StatesError) as caught:
        apply_result_path(path, state_input, 1)
    assert caught.value.error == "States.ResultPathMatchFailure"


@pytest.mark.parametrize("path", ["$.a[*]", "$$.Execution", "$var.x", "$['a','b']"])
def test_result_path_must_be_a_reference_path_into_the_input(path: str) -> None:
    with pytest.raises(StatesError) as caught:
        apply_result_path(path, {"a": [1]}, 1)
    assert caught.value.error == "States.ResultPathMatchFailure"


_keys = st.text(alphabet="abcxyz", min_size=1, max_size=4)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=10,
)


@given(doc=st.dictionaries(_keys, _json, max_size=4), keys=st.lists(_keys, min_size=1, max_size=3))
def test_what_result_path_places_is_what_the_same_path_reads_back(
    doc: dict[str, Any], keys: list[str]
) -> None:
    path = "$." + ".".join(keys)
    try:
        placed = apply_result_path(path, doc, {"result": 1})
    except StatesError:
        return  # some step went through a non-object
    assert read(path, placed) == {"result": 1}


def test_validation_finds_every_dollar_field_that_is_neither_a_path_nor_a_call() -> None:
    template = {
        "ok.$": "$.a",
        "call.$": "States.Array($.a)",
        "bad.$": "not a path",
        "nested": [{"escape.$": r"States.Format('say \"hi\"')"}],
        "plain": "anything",
    }
    assert invalid_payload_fields(template) == ["bad.$", "escape.$"]


@pytest.mark.parametrize(
    ("path", "reference", "result_path"),
    [("$", True, True), ("$.a.b[0]", True, True), ("$['a']", True, True),
     ("$$.Execution.Input", True, False), ("$var.x", True, False), ("$.a[*]", False, False),
     ("$..a", False, False), ("$['a','b']", False, False), ("a", False, False)],
)  # fmt: skip
def test_reference_paths_are_definite_and_result_paths_also_point_into_the_input(
    path: str, reference: bool, result_path: bool
) -> None:
    assert is_reference_path(path) is reference
    assert is_reference_path(path, input_only=True) is result_path
    assert is_path(path) is (path != "a")


def test_paths_and_intrinsics_import_no_transport() -> None:
    script = (
        "import sys, eventbus.workflows.paths, eventbus.workflows.intrinsics; "
        "print(' '.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=True, text=True
    ).stdout.split()
    banned = ("redis", "aiohttp", "httpx", "starlette", "uvicorn", "asyncio")
    assert [m for m in loaded if m.split(".")[0] in banned] == []


_path_pieces = st.sampled_from(
    [*"$.[]*?()@'\",:-019abxyz =!<>&|~/\\", "..", "[?(@.", "order", "items", "price"]
)


@given(text=st.lists(_path_pieces, max_size=12).map("".join))
def test_any_text_either_compiles_and_evaluates_or_is_refused_as_invalid(text: str) -> None:
    try:
        query = compile_query("$" + text)
    except InvalidExpression:
        return
    if query.root == "input":
        query.get(DOC)
