"""Target input as EventBridge shapes it (reference §3): Input, InputPath, InputTransformer."""

from __future__ import annotations

import copy
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventbus.errors import InvalidTransformError
from eventbus.settings import DEFAULT_BUS, rule_arn
from eventbus.transform import (
    NO_INPUT,
    InputContext,
    apply_input_transformer,
    compile_input_transformer,
    compile_target_input,
)

# The AWS documentation's worked example (eb-transform-target-input), verbatim.
EC2_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
EC2_PATHS = {
    "timestamp": "$.time",
    "instance": "$.detail.instance-id",
    "state": "$.detail.state",
    "resource": "$.resources[0]",
}
EXAMPLE_ARN = "arn:aws:events:us-east-2:123456789012:rule/example"

# The values AWS was observed with (reference §3.4).
OBSERVED_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "e-1",
    "detail-type": "core.update-account-command",
    "source": "core.update-account-command",
    "account": "111111111111",
    "time": "2024-01-01T00:00:00Z",
    "region": "eu-west-1",
    "resources": [],
    "detail": {
        "command": "update-account",
        "payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"},
        "listsingle": ["HIGH"],
        "listmulti": ["ACTIVE", "INACTIVE"],
        "valid": True,
    },
}
OBSERVED_PATHS = {
    "userId": "$.detail.payload.acc_id",
    "payload": "$.detail.payload",
    "listsingle": "$.detail.listsingle",
    "listmulti": "$.detail.listmulti",
    "valid": "$.detail.valid",
    "command": "$.detail.notinmessage",
}


def ec2(template: str) -> str:
    return apply_input_transformer(
        EC2_EVENT, EC2_PATHS, template, rule_name="example", rule_arn=EXAMPLE_ARN
    )


def observed(template: str) -> str:
    return apply_input_transformer(OBSERVED_EVENT, OBSERVED_PATHS, template)


def values(template: str, **detail: Any) -> str:
    """Render ``template`` with one variable per ``detail`` key, named like it."""
    event = {"detail": detail}
    return apply_input_transformer(event, {k: f"$.detail.{k}" for k in detail}, template)


# --- the documentation's worked examples -------------------------------------------------------


def test_doc_simple_string() -> None:
    assert ec2('"instance <instance> is in <state>"') == '"instance i-0123456789 is in RUNNING"'


def test_doc_string_with_escaped_quotes() -> None:
    template = '"instance \\"<instance>\\" is in <state>"'
    assert ec2(template) == '"instance \\"i-0123456789\\" is in RUNNING"'


def test_doc_simple_json() -> None:
    out = ec2('{\n  "instance" : <instance>,\n  "state": <state>\n}')
    assert out == '{\n  "instance" : "i-0123456789",\n  "state": "RUNNING"\n}'
    assert orjson.loads(out) == {"instance": "i-0123456789", "state": "RUNNING"}


def test_doc_json_with_strings_and_variables() -> None:
    template = (
        '{\n "instance" : <instance>,\n "state": "<state>",\n'
        ' "instanceStatus": "instance \\"<instance>\\" is in <state>"\n}'
    )
    assert orjson.loads(ec2(template)) == {
        "instance": "i-0123456789",
        "state": "RUNNING",
        "instanceStatus": 'instance "i-0123456789" is in RUNNING',
    }


def test_doc_json_with_a_mix_of_variables_and_static_information() -> None:
    out = ec2(
        '{\n  "instance" : <instance>,\n  "state": [ 9, <state>, true ],\n'
        '  "Transformed" : "Yes"\n}'
    )
    assert orjson.loads(out) == {
        "instance": "i-0123456789",
        "state": [9, "RUNNING", True],
        "Transformed": "Yes",
    }


def test_doc_reserved_variables_in_json() -> None:
    template = (
        '{\n  "instance" : <instance>,\n  "state": <state>,\n  "ruleArn" : <aws.events.rule-arn>,'
        '\n  "ruleName" : <aws.events.rule-name>,\n  "originalEvent" : <aws.events.event>\n}'
    )
    out = orjson.loads(ec2(template))
    assert out["ruleArn"] == EXAMPLE_ARN
    assert out["ruleName"] == "example"
    assert out["instance"] == "i-0123456789"
    assert "detail" not in out["originalEvent"]


def test_doc_reserved_variables_in_a_string() -> None:
    assert ec2('"<aws.events.rule-name> triggered"') == '"example triggered"'


def test_doc_cloudwatch_log_group_template_gets_the_timestamp_quoted() -> None:
    out = ec2(
        '{\n  "timestamp" : <timestamp>,\n  "message": "instance \\"<instance>\\" is in <state>"\n}'
    )
    assert orjson.loads(out) == {
        "timestamp": "2015-11-11T21:29:54Z",
        "message": 'instance "i-0123456789" is in RUNNING',
    }


# --- the substitution rules observed on AWS (reference §3.4) -----------------------------------


def test_an_unquoted_string_placeholder_gains_quotes() -> None:
    assert observed('{"id" : <userId>}') == '{"id" : "0a787ecb-4015"}'


def test_a_quoted_string_placeholder_is_not_quoted_twice() -> None:
    assert observed('{"id" : "<userId>"}') == '{"id" : "0a787ecb-4015"}'


def test_placeholders_inside_a_json_string_are_interpolated_each_time() -> None:
    out = observed('{"multi_replacement": "users/<userId>/second/<userId>"}')
    assert out == '{"multi_replacement": "users/0a787ecb-4015/second/0a787ecb-4015"}'


def test_an_object_in_value_position_is_inserted_as_json() -> None:
    out = observed('{"method": "PUT", "path": "users-service/users/<userId>", "bod": <payload>}')
    assert orjson.loads(out) == {
        "method": "PUT",
        "path": "users-service/users/0a787ecb-4015",
        "bod": {"acc_id": "0a787ecb-4015", "sf_id": "baz"},
    }


def test_a_list_in_value_position_is_inserted_as_json() -> None:
    assert observed('{"x": <listsingle>}') == '{"x": ["HIGH"]}'


def test_a_string_as_a_json_array_element_gains_quotes() -> None:
    out = observed('{"bod": [<userId>, "hardcoded"]}')
    assert orjson.loads(out) == {"bod": ["0a787ecb-4015", "hardcoded"]}


@pytest.mark.parametrize(
    "template",
    [
        '{"payload": "<payload>"}',
        '{"x": "<listsingle>"}',
        '{"not_valid": "users-service/users/<payload>", "bod": <payload>}',
    ],
)
def test_an_object_or_list_inside_quotes_makes_the_output_invalid(template: str) -> None:
    with pytest.raises(InvalidTransformError) as info:
        observed(template)
    assert info.value.field == "input_transformer.input_template"


def test_a_string_template_strips_the_quotes_of_an_object() -> None:
    out = observed('"Payload of <payload> with path users-service/users/<userId> and <userId>"')
    assert out == (
        '"Payload of {acc_id:0a787ecb-4015,sf_id:baz} with path '
        'users-service/users/0a787ecb-4015 and 0a787ecb-4015"'
    )


def test_a_string_template_renders_lists_without_quotes() -> None:
    assert observed('"<listsingle> single"') == '"[HIGH] single"'
    assert observed('"<listmulti> multi"') == '"[ACTIVE,INACTIVE] multi"'


def test_a_string_template_renders_a_boolean() -> None:
    assert observed('"Command is <valid>!"') == '"Command is true!"'


def test_a_string_template_of_several_quoted_lines_keeps_its_line_breaks() -> None:
    template = '"<listsingle> single list item"\n"<command> system account id"\n"<userId> user id"'
    assert observed(template) == (
        '"[HIGH] single list item"\n" system account id"\n"0a787ecb-4015 user id"'
    )


def test_a_string_template_starting_with_special_characters_is_a_string() -> None:
    out = apply_input_transformer(
        OBSERVED_EVENT, {"dt": "$.detail-type"}, '"{[/Check with <dt> type"'
    )
    assert out == '"{[/Check with core.update-account-command type"'


def test_a_template_without_quotes_or_braces_is_a_string_template() -> None:
    assert ec2("<instance> is in state <state>") == "i-0123456789 is in state RUNNING"


# --- missing paths ---------------------------------------------------------------------------


def test_a_missing_path_is_an_empty_string_as_a_json_value() -> None:
    assert observed('{"command": <command>}') == '{"command": ""}'


def test_a_missing_path_is_empty_inside_a_json_string() -> None:
    assert observed('{"command": "cmd=<command>."}') == '{"command": "cmd=."}'


def test_a_missing_path_is_empty_in_a_string_template() -> None:
    assert observed('"info <command>"') == '"info "'


# --- value types -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "as_json", "in_string", "as_text"),
    [
        (42, "42", "42", "42"),
        (-1.5, "-1.5", "-1.5", "-1.5"),
        (0, "0", "0", "0"),
        (True, "true", "true", "true"),
        (False, "false", "false", "false"),
        (None, "null", "null", "null"),
        ("text", '"text"', "text", "text"),
        ("", '""', "", ""),
        ("café ✓ 日本", '"café ✓ 日本"', "café ✓ 日本", "café ✓ 日本"),
        ([1, "a", None], '[1,"a",null]', None, "[1,a,null]"),
        ({"a": {"b": [1, 2]}}, '{"a":{"b":[1,2]}}', None, "{a:{b:[1,2]}}"),
        ([], "[]", "[]", "[]"),
        ({}, "{}", "{}", "{}"),
    ],
)
def test_each_json_type_in_each_position(
    value: Any, as_json: str, in_string: str | None, as_text: str
) -> None:
    assert values('{"v": <v>}', v=value) == f'{{"v": {as_json}}}'
    assert values('"v=<v>"', v=value) == f'"v={as_text}"'
    if in_string is not None:
        assert values('{"v": "v=<v>"}', v=value) == f'{{"v": "v={in_string}"}}'


def test_unicode_is_delivered_as_is_not_escaped() -> None:
    out = values('{"v": <v>}', v="żółw 🐢")
    assert out == '{"v": "żółw 🐢"}'
    assert orjson.loads(out) == {"v": "żółw 🐢"}


def test_an_object_value_keeps_its_key_order() -> None:
    assert values('{"v": <v>}', v={"z": 1, "a": 2}) == '{"v": {"z":1,"a":2}}'


def test_a_wildcard_path_gives_a_list() -> None:
    event = {"detail": {"items": [{"sku": "A"}, {"sku": "B"}]}}
    out = apply_input_transformer(event, {"skus": "$.detail.items[*].sku"}, '{"s": <skus>}')
    assert out == '{"s": ["A","B"]}'


# --- characters that would need escaping: EventBridge does not escape -------------------------


@pytest.mark.parametrize("value", ['say "hi"', "back\\slash", "line\nbreak", "tab\there"])
def test_a_string_needing_escapes_makes_a_json_template_invalid(value: str) -> None:
    with pytest.raises(InvalidTransformError):
        values('{"v": <v>}', v=value)
    with pytest.raises(InvalidTransformError):
        values('{"v": "x <v>"}', v=value)


@pytest.mark.parametrize("value", ['say "hi"', "back\\slash", "line\nbreak"])
def test_a_string_template_inserts_such_strings_verbatim(value: str) -> None:
    assert values('"v=<v>"', v=value) == f'"v={value}"'


def test_an_object_holding_such_strings_is_inserted_escaped_as_json() -> None:
    # The object's own JSON text is valid: only top-level strings go in unescaped.
    out = values('{"v": <v>}', v={"q": 'say "hi"\n'})
    assert orjson.loads(out) == {"v": {"q": 'say "hi"\n'}}


def test_a_json_template_keeps_its_own_escapes_and_spacing() -> None:
    template = '{\n\t"a\\"b" :  <v> ,\n\t"c": "\\u00e9 <v>"\n}'
    assert values(template, v="x") == '{\n\t"a\\"b" :  "x" ,\n\t"c": "\\u00e9 x"\n}'


# --- reserved variables ----------------------------------------------------------------------


def test_aws_events_event_has_no_detail_and_camel_case_detail_type_in_aws_order() -> None:
    out = apply_input_transformer(EC2_EVENT, {}, '{"e": <aws.events.event>}')
    event = orjson.loads(out)["e"]
    assert list(event) == [
        "id", "account", "detailType", "time", "source", "region", "resources", "version"
    ]  # fmt: skip
    assert event["detailType"] == "EC2 Instance State-change Notification"


def test_aws_events_event_json_is_the_whole_event() -> None:
    out = apply_input_transformer(EC2_EVENT, {}, '{"e": <aws.events.event.json>}')
    assert out == '{"e": ' + orjson.dumps(EC2_EVENT).decode() + "}"


def test_ingestion_time_rule_name_and_arn_come_from_the_context() -> None:
    out = apply_input_transformer(
        EC2_EVENT,
        {},
        '"<aws.events.rule-arn> <aws.events.rule-name> <aws.events.event.ingestion-time>"',
        rule_name="r",
        rule_arn="arn:aws:events:eu-west-1:111111111111:rule/bus/r",
        ingestion_time="2024-01-01T00:00:00.123Z",
    )
    assert out == '"arn:aws:events:eu-west-1:111111111111:rule/bus/r r 2024-01-01T00:00:00.123Z"'


def test_a_rule_name_without_an_arn_gets_its_default_bus_arn_from_the_settings() -> None:
    out = apply_input_transformer(EC2_EVENT, {}, '{"a": <aws.events.rule-arn>}', rule_name="r")
    assert orjson.loads(out) == {"a": rule_arn(DEFAULT_BUS, "r")}


def test_an_unknown_ingestion_time_renders_as_a_missing_value() -> None:
    out = apply_input_transformer(EC2_EVENT, {}, '{"t": <aws.events.event.ingestion-time>}')
    assert out == '{"t": ""}'


@pytest.mark.parametrize(
    "template",
    ['"x <aws.events.event>"', '"x <aws.events.event.json>"', '{"a": "<aws.events.event>"}'],
)
def test_the_event_variables_are_json_values_only(template: str) -> None:
    with pytest.raises(InvalidTransformError, match="only be used as a JSON value"):
        compile_input_transformer({}, template)


def test_scheduler_context_attributes_fill_a_template() -> None:
    ctx = InputContext(
        schedule_arn="arn:aws:scheduler:local:000000000000:schedule/default/s",
        scheduled_time="2026-03-01T12:00:00Z",
        execution_id="ex-1",
        attempt_number=2,
    )
    template = (
        '{"arn": <aws.scheduler.schedule-arn>, "at": "<aws.scheduler.scheduled-time>", '
        '"id": <aws.scheduler.execution-id>, "attempt": <aws.scheduler.attempt-number>}'
    )
    out = compile_input_transformer({}, template).render({}, ctx)
    assert orjson.loads(out) == {
        "arn": "arn:aws:scheduler:local:000000000000:schedule/default/s",
        "at": "2026-03-01T12:00:00Z",
        "id": "ex-1",
        "attempt": 2,
    }


# --- settings refused when rules load --------------------------------------------------------


def test_a_placeholder_not_in_the_map_is_refused_with_aws_text() -> None:
    with pytest.raises(InvalidTransformError) as info:
        compile_input_transformer({"a": "$.a"}, '"x <notdefinedkey>"', target_id="t1")
    assert (
        info.value.reason
        == "InputTemplate for target t1 contains invalid placeholder notdefinedkey."
    )
    assert info.value.field == "input_transformer.input_template"


def test_angle_brackets_that_are_not_a_name_are_plain_text() -> None:
    assert values('"a < b and <v> > c"', v="x") == '"a < b and x > c"'


@pytest.mark.parametrize(
    "key", ["aws.events.rule-name", "aws.events.event", "aws.scheduler.execution-id"]
)
def test_a_reserved_variable_cannot_be_redefined(key: str) -> None:
    with pytest.raises(InvalidTransformError, match="reserved"):
        compile_input_transformer({key: "$.a"}, '"<a>"')


@pytest.mark.parametrize("key", ["AWS", "AWSfoo", "bad key", "a.b", "é", "", "x" * 257])
def test_a_variable_name_must_be_valid(key: str) -> None:
    with pytest.raises(InvalidTransformError) as info:
        compile_input_transformer({key: "$.a"}, '"x"')
    assert info.value.field == f"input_transformer.input_paths.{key}"


def test_a_variable_name_of_letters_digits_dash_and_underscore_is_fine() -> None:
    assert values('"<A-b_9>"', **{"A-b_9": 1}) == '"1"'


def test_at_most_100_variables() -> None:
    paths = {f"v{i}": "$.a" for i in range(100)}
    compile_input_transformer(paths, '"x"')
    paths["v100"] = "$.a"
    with pytest.raises(InvalidTransformError, match="at most 100"):
        compile_input_transformer(paths, '"x"')


def test_a_path_syntax_error_names_the_variable() -> None:
    with pytest.raises(InvalidTransformError) as info:
        compile_input_transformer({"a": "$['a']"}, '"<a>"')
    assert info.value.field == "input_transformer.input_paths.a"


@pytest.mark.parametrize(
    "template",
    [
        '{"a": <v>',  # unclosed
        '{"a": <v> <v>}',
        '{"a": "<v>}',  # unterminated string
        "{<v>: 1}",  # a placeholder as a key
        '{"a": 1,}',
        "{ not json at all }",
    ],
)
def test_a_json_template_invalid_whatever_the_values_is_refused(template: str) -> None:
    with pytest.raises(InvalidTransformError, match="not valid JSON"):
        compile_input_transformer({"v": "$.v"}, template)


def test_template_length_limits() -> None:
    compile_input_transformer({}, '"' + "x" * 8190 + '"')
    for template in ["", '"' + "x" * 8191 + '"']:
        with pytest.raises(InvalidTransformError, match="input_template"):
            compile_input_transformer({}, template)


def test_an_invalid_output_is_raised_by_render_not_compile() -> None:
    compiled = compile_input_transformer({"p": "$.p"}, '{"x": "<p>"}')
    assert compiled.render({"p": "fine"}, InputContext()) == '{"x": "fine"}'
    with pytest.raises(InvalidTransformError, match="invalid JSON"):
        compiled.render({"p": {"a": 1}}, InputContext())


# --- the three input forms -------------------------------------------------------------------


def test_no_settings_deliver_the_whole_event_as_compact_json_in_order() -> None:
    out = compile_target_input().render(EC2_EVENT, InputContext())
    assert out == orjson.dumps(EC2_EVENT).decode()
    assert list(orjson.loads(out)) == list(EC2_EVENT)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"a": [1, "é"]}, '{"a":[1,"é"]}'),
        ("hello", '"hello"'),
        (7, "7"),
        (None, "null"),
        ([], "[]"),
    ],
)
def test_input_is_delivered_as_compact_json(value: Any, text: str) -> None:
    assert compile_target_input(input=value).render(EC2_EVENT, InputContext()) == text


def test_input_longer_than_8192_characters_is_refused() -> None:
    compile_target_input(input="x" * 8190)
    with pytest.raises(InvalidTransformError) as info:
        compile_target_input(input="x" * 8191)
    assert info.value.field == "input"


def test_input_that_is_not_json_is_refused() -> None:
    with pytest.raises(InvalidTransformError):
        compile_target_input(input={"a": object()})


def test_input_fills_scheduler_attributes_when_the_context_has_them() -> None:
    target = compile_target_input(
        input={"at": "<aws.scheduler.scheduled-time>", "n": "<aws.scheduler.attempt-number>"}
    )
    ctx = InputContext(scheduled_time="2026-03-01T12:00:00Z", attempt_number=1)
    assert target.render({}, ctx) == '{"at":"2026-03-01T12:00:00Z","n":"1"}'
    no_ctx = '{"at":"<aws.scheduler.scheduled-time>","n":"<aws.scheduler.attempt-number>"}'
    assert target.render({}, InputContext()) == no_ctx


def test_input_path_delivers_the_selected_value_as_json() -> None:
    target = compile_target_input(input_path="$.detail")
    assert target.render(EC2_EVENT, InputContext()) == orjson.dumps(EC2_EVENT["detail"]).decode()
    state = compile_target_input(input_path="$.detail.state")
    assert state.render(EC2_EVENT, InputContext()) == '"RUNNING"'


def test_input_path_selecting_nothing_delivers_an_empty_payload() -> None:
    assert compile_target_input(input_path="$.nope").render(EC2_EVENT, InputContext()) == ""


def test_input_path_syntax_is_checked_when_compiled() -> None:
    with pytest.raises(InvalidTransformError) as info:
        compile_target_input(input_path="detail")
    assert info.value.field == "input_path"


def test_input_transformer_mapping_compiles() -> None:
    target = compile_target_input(
        input_transformer={"input_paths": {"s": "$.detail.state"}, "input_template": '"<s>"'}
    )
    assert target.render(EC2_EVENT, InputContext()) == '"RUNNING"'


def test_input_transformer_requires_a_template_and_known_fields() -> None:
    with pytest.raises(InvalidTransformError, match="required"):
        compile_target_input(input_transformer={"input_paths": {}})
    with pytest.raises(InvalidTransformError, match="unknown"):
        compile_target_input(input_transformer={"input_template": '"x"', "InputPathsMap": {}})


@pytest.mark.parametrize(
    "settings",
    [
        {"input": 1, "input_path": "$"},
        {"input": None, "input_transformer": {"input_template": '"x"'}},
        {"input_path": "$", "input_transformer": {"input_template": '"x"'}},
    ],
)
def test_only_one_input_form_may_be_set(settings: dict[str, Any]) -> None:
    with pytest.raises(InvalidTransformError) as info:
        compile_target_input(**settings, target_id="t1")
    assert str(info.value) == (
        "Only one of Input, InputPath, or InputTransformer must be provided for target t1."
    )


def test_no_input_is_not_the_same_as_a_null_input() -> None:
    assert compile_target_input(input=NO_INPUT).render({"a": 1}, InputContext()) == '{"a":1}'


def test_rendering_leaves_the_event_untouched() -> None:
    event = copy.deepcopy(OBSERVED_EVENT)
    observed('{"a": <payload>, "b": "<userId>", "e": <aws.events.event.json>}')
    apply_input_transformer(event, OBSERVED_PATHS, '{"a": <payload>, "e": <aws.events.event>}')
    assert event == OBSERVED_EVENT


def test_importing_transform_loads_no_io_library() -> None:
    code = (
        "import sys, eventbus.transform, eventbus.jsonpath\n"
        "bad = [m for m in ('redis', 'asyncio', 'httpx') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_model_with_the_same_attribute_names_compiles_like_a_mapping() -> None:
    spec: Any = SimpleNamespace(input_paths={"s": "$.detail.state"}, input_template='"<s>"')
    target = compile_target_input(input_transformer=spec)
    assert target.render(EC2_EVENT, InputContext()) == '"RUNNING"'


_SAFE_TEXT = st.text(st.characters(blacklist_characters='"\\', blacklist_categories=("Cc", "Cs")))
_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _SAFE_TEXT,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(value=_JSON_VALUES)
def test_any_value_outside_quotes_round_trips_through_a_json_template(value: Any) -> None:
    out = apply_input_transformer({"v": value}, {"v": "$.v"}, '{"v": <v>, "k": [<v>]}')
    assert orjson.loads(out) == {"v": value, "k": [value]}


# --- fuzzing: any transformer settings compile or raise InvalidTransformError, never more -------

_TEMPLATE_PIECES = st.sampled_from([
    "{", "}", "[", "]", '"', ":", ",", " ", "\\", "<", ">", "x", "1", "null", "<a>", "<b>",
    "<aws.events.event>", "<aws.events.event.json>", "<aws.events.rule-name>",
    "<aws.events.event.ingestion-time>", "<aws.scheduler.attempt-number>", "<AWS.x>", "\ud800",
])  # fmt: skip
_TEMPLATES = st.lists(st.one_of(_TEMPLATE_PIECES, st.text(max_size=3)), max_size=12).map("".join)
_PATH_PIECES = st.sampled_from(
    [".a", ".b", ".detail", "[0]", "[12]", "[*]", ".*", "..", "[", "]", "['a']", "[-1]", " ", "$"]
)
_PATHS = st.one_of(
    st.lists(_PATH_PIECES, max_size=6).map(lambda p: "$" + "".join(p)),
    st.text(max_size=10),
    st.integers(),
    st.none(),
)
_VARIABLES = st.one_of(st.sampled_from(["a", "b", "AWSx", "aws.events.event", "a b", ""]),
                       st.integers())  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(
    paths=st.one_of(st.dictionaries(_VARIABLES, _PATHS, max_size=3), st.none(), st.text()),
    template=st.one_of(_TEMPLATES, st.integers(), st.none()),
    event=st.dictionaries(st.sampled_from(["a", "b", "detail", "id"]), _JSON_VALUES, max_size=4),
)
def test_any_transformer_compiles_and_renders_or_raises_invalid_transform_error(
    paths: Any, template: Any, event: dict[str, Any]
) -> None:
    try:
        compiled = compile_input_transformer(paths, template, target_id="t1")
        compiled.render(event, InputContext(rule_name="r", rule_arn="arn:r", attempt_number=1))
    except InvalidTransformError:
        pass


@settings(max_examples=60, deadline=None)
@given(
    input=st.one_of(st.just(NO_INPUT), _JSON_VALUES, st.text(max_size=6), st.sampled_from(
        ['{"a":', "[1]", "\ud800", '"x"', "{}"])),
    input_path=st.one_of(st.none(), _PATHS),
    transformer=st.one_of(st.none(), st.dictionaries(
        st.sampled_from(["input_paths", "input_template", "other"]),
        st.one_of(_TEMPLATES, st.dictionaries(_VARIABLES, _PATHS, max_size=2)), max_size=3)),
    event=st.dictionaries(st.sampled_from(["a", "b", "detail"]), _JSON_VALUES, max_size=3),
)  # fmt: skip
def test_any_target_input_settings_compile_and_render_or_raise_invalid_transform_error(
    input: Any, input_path: Any, transformer: Any, event: dict[str, Any]
) -> None:
    try:
        compiled = compile_target_input(
            input=input, input_path=input_path, input_transformer=transformer
        )
        compiled.render(event, InputContext())
    except InvalidTransformError:
        pass
