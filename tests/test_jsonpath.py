"""The JSONPath subset of InputPath / InputPathsMap (reference §3.2), evaluated like Jayway."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventbus.errors import InvalidTransformError
from eventbus.jsonpath import MISSING, WILDCARD, compile_path

EVENT: dict[str, Any] = {
    "time": "2015-11-11T21:29:54Z",
    "resources": ["arn:a", "arn:b"],
    "detail": {
        "instance-id": "i-0123456789",
        "snake_case": 1,
        "a/b": "slash",
        "aws:tag": "colon",
        "empty": None,
        "items": [{"sku": "A", "qty": 2}, {"sku": "B"}, "text"],
        "matrix": [[1, 2], [3]],
        "clé": "unicode",
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", EVENT),
        ("$.time", "2015-11-11T21:29:54Z"),
        ("$.detail.instance-id", "i-0123456789"),
        ("$.detail.snake_case", 1),
        ("$.detail.a/b", "slash"),
        ("$.detail.aws:tag", "colon"),
        ("$.detail.clé", "unicode"),
        ("$.resources[0]", "arn:a"),
        ("$.resources[1]", "arn:b"),
        ("$.detail.items[0].sku", "A"),
        ("$.detail.matrix[0][1]", 2),
        ("$.detail.items", EVENT["detail"]["items"]),
    ],
)
def test_a_definite_path_selects_one_value(path: str, expected: Any) -> None:
    assert compile_path(path).get(EVENT) == expected


def test_a_null_value_is_selected_not_missing() -> None:
    assert compile_path("$.detail.empty").get(EVENT) is None


@pytest.mark.parametrize(
    "path",
    [
        "$.nope",
        "$.detail.nope.deeper",
        "$.resources[2]",  # past the end
        "$.detail.items[1].qty",  # absent in that element
        "$.detail.instance-id.x",  # key into a string
        "$.detail.instance-id[0]",  # index into a string
        "$.detail[0]",  # index into an object
        "$.resources.length",  # key into a list
        "$.detail.empty.x",  # key into null
    ],
)
def test_a_definite_path_that_selects_nothing_is_missing(path: str) -> None:
    assert compile_path(path).get(EVENT) is MISSING


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.resources[*]", ["arn:a", "arn:b"]),
        ("$.resources.*", ["arn:a", "arn:b"]),
        ("$.detail.items[*].sku", ["A", "B"]),  # the string element has no sku: skipped
        ("$.detail.matrix[*][0]", [1, 3]),
        ("$.detail.items[*].qty", [2]),
        ("$.detail.nope[*]", []),
        ("$.time.*", []),
    ],
)
def test_a_wildcard_path_selects_the_list_of_every_match(path: str, expected: Any) -> None:
    assert compile_path(path).get(EVENT) == expected


def test_an_object_wildcard_selects_its_values_in_order() -> None:
    assert compile_path("$.x.*").get({"x": {"b": 1, "a": 2}}) == [1, 2]


def test_compiled_steps_are_keys_indices_and_wildcards() -> None:
    path = compile_path("$.detail.items[0].*")
    assert path.steps == ("detail", "items", 0, WILDCARD)
    assert not path.definite


@pytest.mark.parametrize(
    "path",
    [
        "",
        "detail.x",  # no $
        "$detail",
        "$..x",  # recursive descent
        "$.x..y",
        "$['detail']",  # bracket notation for keys
        '$["detail"]',
        "$.x[-1]",  # negative index
        "$.x[0:2]",  # slice
        "$.x[01]",
        "$.x[?(@.a)]",  # filter
        "$.x.",  # trailing dot
        "$.x y",  # white space
        "$ .x",
        "$.x[0",
        "$." + "a" * 255,  # 257 characters
    ],
)
def test_a_path_outside_the_subset_is_refused_when_compiled(path: str) -> None:
    with pytest.raises(InvalidTransformError) as info:
        compile_path(path, field="input_path")
    assert info.value.field == "input_path"


def test_a_path_of_256_characters_is_accepted() -> None:
    assert compile_path("$." + "a" * 254).get({"a" * 254: 1}) == 1


def test_a_path_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InvalidTransformError):
        compile_path(5)  # type: ignore[arg-type]


def test_missing_is_falsy_and_named() -> None:
    assert not MISSING
    assert repr(MISSING) == "MISSING"


# --- fuzzing: any text compiles or raises InvalidTransformError; any path reads any document ---

_PIECES = st.sampled_from(
    [".a", ".b", ".*", "[0]", "[1]", "[*]", "[", "]", "..", "['a']", "[-1]", "[01]", " ", "\ud800"]
)
_DOCS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("ab"), inner),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(
    text=st.one_of(st.lists(_PIECES, max_size=8).map(lambda p: "$" + "".join(p)), st.text(),
                   st.integers(), st.none()),
    doc=_DOCS,
)  # fmt: skip
def test_any_path_text_compiles_and_reads_or_raises_invalid_transform_error(
    text: Any, doc: Any
) -> None:
    try:
        path = compile_path(text)
    except InvalidTransformError:
        return
    found = path.get(doc)
    assert isinstance(found, list) or path.definite
