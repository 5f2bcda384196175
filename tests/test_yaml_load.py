"""Reading YAML: the core schema's scalars, merges, standard tags, and what is refused with its
line; any JSON text reads back as the same value."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventbus.yaml_load import Intrinsic, YamlError, load_yaml


def data(text: str) -> Any:
    document = load_yaml(text)
    assert document is not None
    return document.data


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a: [on, yes, no, off, y]", ["on", "yes", "no", "off", "y"]),
        ("a: [true, False, TRUE, null, ~, Null, '']", [True, False, True, None, None, None, ""]),
        ("a: [2024-01-01, 2024-01-01T10:00:00Z, 12:30]", ["2024-01-01", "2024-01-01T10:00:00Z", "12:30"]),  # noqa: E501
        ("a: [7, -7, +7, 0x1F, 0o17, 017, 1_000, 0b101]", [7, -7, 7, 31, 15, 17, 1000, 5]),
        ("a: [1.5, -1e3, .5, 1.]", [1.5, -1000.0, 0.5, 1.0]),
        ("a: [_, ._, 0x_, 0o, +, ., 1_2_]", ["_", "._", "0x_", "0o", "+", ".", 12]),
        (
            "a: ['7', \"true\", !!str 7, !!int '8', !!float '1', !!bool 'true', !!null '']",
            ["7", "true", "7", 8, 1.0, True, None],
        ),
        ("a: |\n  two\n  lines\n", "two\nlines\n"),
    ],
)
def test_scalars_follow_the_yaml_1_2_core_schema(text: str, value: Any) -> None:
    assert data(text)["a"] == value
    assert all(type(v) is type(w) for v, w in zip(data(text)["a"], value, strict=False))


def test_infinity_and_nan_are_floats() -> None:
    got = data("a: [.inf, -.Inf, .nan]")["a"]
    assert got[:2] == [math.inf, -math.inf] and math.isnan(got[2])


def test_a_merge_adds_the_keys_the_mapping_lacks() -> None:
    got = data("base: &b {x: 1, y: 2}\nmore: &m {z: 3}\nm:\n  <<: [*b, *m]\n  x: 9\n")
    assert got["m"] == {"x": 9, "y": 2, "z": 3}


def test_the_line_of_a_key_an_item_and_a_merged_key() -> None:
    document = load_yaml("base: &b {y: 2}\nm:\n  <<: *b\n  x:\n    - a\n    - b\n")
    assert document is not None
    assert document.line_of(("m", "x", 1)) == 6
    assert document.line_of(("m", "y")) == 3
    assert document.line_of(("m", "missing", 0)) == 2
    assert document.line_of(()) == 1


def test_cloudformation_short_form_intrinsics_are_kept_unresolved_where_written() -> None:
    document = load_yaml(
        "a: !Ref Queue\nb:\n  - !GetAtt [Queue, Arn]\nc: !If {x: 1}\nd: &j !Join ['', [a]]\ne: *j\n"
    )
    assert document is not None
    a, (b,), c, d, e = document.data.values()
    assert (a.tag, a.value) == ("!Ref", "Queue")
    assert (b.tag, b.value) == ("!GetAtt", ["Queue", "Arn"])
    assert (c.tag, c.value) == ("!If", {"x": 1})
    assert isinstance(d, Intrinsic) and d.tag == "!Join" and e is d
    assert document.line_of(("b", 0)) == 3


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: !custom 1\n", 1, "unknown tag"),
        ("a: !custom [1]\n", 1, "unknown tag"),
        ("a: !ref x\n", 1, "unknown tag"),  # CloudFormation's tags are spelt as it spells them
        ("a: 1\n---\nb: 2\n", 2, "a single document"),
        ("a: *nowhere\n", 1, "undefined alias"),
        ("a: &x [*x]\n", 1, "undefined alias"),  # a recursive list
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key"),
        ("a: &s 1\n<<: *s\n", 2, "a merge (<<) takes a mapping"),
        ("a: [1\n", 2, "did not find expected"),
    ],
)
def test_what_is_refused_names_its_line(text: str, line: int, message: str) -> None:
    with pytest.raises(YamlError) as refused:
        load_yaml(text)
    assert refused.value.line == line and message in refused.value.message


def test_a_stream_of_comments_has_no_document() -> None:
    assert load_yaml("# nothing\n") is None


# Characters YAML allows unescaped (no control characters; line and paragraph separators would
# fold), as JSON text writes them with ensure_ascii=False: YAML has no surrogate-pair escapes.
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")))
FINITE = st.floats(allow_nan=False, allow_infinity=False)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | FINITE | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(value=JSON)
def test_json_text_reads_back_as_the_same_value(value: Any) -> None:
    assert data(json.dumps({"v": value}, ensure_ascii=False))["v"] == value
