"""validate_definition: one test per rule Step Functions applies when it accepts a definition."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventbus.errors import InvalidDefinition
from eventbus.workflows import validate_definition
from eventbus.workflows.definition import parse_definition
from eventbus.workflows.schema import STATE_FIELDS, STATE_TYPES

SCHEMA = "SCHEMA_VALIDATION_FAILED"
TARGET = "MISSING_TRANSITION_TARGET"


def machine(states: dict[str, Any], start: str = "A", **top: Any) -> str:
    return orjson.dumps({"StartAt": start, "States": states, **top}).decode()


def one(state: dict[str, Any], **top: Any) -> str:
    """A machine whose only state is `A`, ending there unless it says otherwise."""
    if state.get("Type") in ("Task", "Pass", "Wait", "Parallel", "Map") and "Next" not in state:
        state = {**state, "End": True}
    return machine({"A": state}, **top)


def problems(definition: str, machine_type: str = "STANDARD") -> list[tuple[str, str, str | None]]:
    try:
        validate_definition(definition, machine_type)
    except InvalidDefinition as e:
        return [(d["code"], d["message"], d.get("location")) for d in e.diagnostics]
    return []


def messages(definition: str, machine_type: str = "STANDARD") -> list[str]:
    return [message for _, message, _ in problems(definition, machine_type)]


PASS_END = {"Type": "Pass", "End": True}
INLINE = {"StartAt": "P", "States": {"P": PASS_END}}


# -- the text -------------------------------------------------------------------------------


def test_a_minimal_machine_is_valid() -> None:
    validate_definition(one({"Type": "Pass"}))


@pytest.mark.parametrize("text", ["", "   ", "[]", '"text"', "1", "null"])
def test_a_definition_must_be_a_json_object(text: str) -> None:
    assert problems(text) == [(SCHEMA, "Definition must be a valid JSON object", None)]


def test_text_that_is_not_json_is_described_as_the_json_parser_does() -> None:
    (code, message, location), *_ = problems("nope at all")
    assert code == "INVALID_JSON_DESCRIPTION"
    assert message.startswith(
        "Unrecognized token 'nope': was expecting (JSON String, Number, Array, Object or token "
        "'null', 'true' or 'false')\n at [Source: (String)\"nope at all\"; line: 1, column: 5]"
    )
    assert location == '[Source: (String)"nope at all"; line: 1, column: 5]'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": }', "Unexpected character ('}' (code 125)): expected a valid value"),
        (
            "{a: 1}",
            "Unexpected character ('a' (code 97)): was expecting double-quote to start field name",
        ),
        (
            '{"a" 1}',
            "Unexpected character ('1' (code 49)): "
            "was expecting a colon to separate field name and value",
        ),
        (
            "[1 2]",
            "Unexpected character ('2' (code 50)): was expecting comma to separate Array entries",
        ),
        (
            '{"a": 1',
            "Unexpected end-of-input: expected close marker for Object (start marker at [Source: ",
        ),
        ('{"a": "b', "Unexpected end-of-input: was expecting closing quote for a String value"),
    ],
)
def test_each_json_syntax_error_is_worded_as_the_json_parser_words_it(
    text: str, message: str
) -> None:
    [(code, found, _)] = problems(text)
    assert (code, found[: len(message)]) == ("INVALID_JSON_DESCRIPTION", message)


def test_integers_beyond_64_bits_are_json() -> None:
    assert parse_definition('{"n": 123456789012345678901234567890}')["n"] > 2**64


def test_the_message_is_create_state_machines_text_listing_every_problem() -> None:
    with pytest.raises(InvalidDefinition) as raised:
        validate_definition(machine({"A": {"Type": "Pass", "Next": "B"}}))
    assert raised.value.code == "InvalidDefinition"
    assert raised.value.message == (
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: B "
        "at /States/A/Next, MISSING_END_STATE: Workflow has no terminal state at null'"
    )


def test_the_machine_type_must_be_standard_or_express() -> None:
    with pytest.raises(ValueError, match="STANDARD or EXPRESS"):
        validate_definition(one({"Type": "Pass"}), "SYNC")


# -- the top level --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "missing"),
    [
        ({}, "[States, StartAt]"),
        ({"StartAt": "A"}, "[States]"),
        ({"States": {"A": PASS_END}}, "[StartAt]"),
    ],
)
def test_states_and_start_at_are_required(definition: dict[str, Any], missing: str) -> None:
    assert problems(orjson.dumps(definition).decode()) == [
        (SCHEMA, f"These fields are required: {missing}", "/")
    ]


def test_an_unknown_top_level_field_is_refused() -> None:
    assert problems(one({"Type": "Pass"}, Coment="typo")) == [
        (SCHEMA, "Field 'Coment' is not supported", "/")
    ]


def test_version_must_be_1_0() -> None:
    assert messages(one({"Type": "Pass"}, Version="2.0")) == [
        "Value should be one of the following: [1.0]"
    ]
    validate_definition(one({"Type": "Pass"}, Version="1.0"))


def test_the_top_level_timeout_is_a_non_negative_integer() -> None:
    validate_definition(one({"Type": "Pass"}, TimeoutSeconds=0))
    assert messages(one({"Type": "Pass"}, TimeoutSeconds=-1)) == ["Minimum value is 0"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("jsonata", "Value should be one of the following: [JSONPath, JSONata]"),
        (5, "Expected value of type [STRING]"),
    ],
)
def test_the_query_language_is_jsonpath_or_jsonata(value: Any, message: str) -> None:
    assert problems(one({"Type": "Pass"}, QueryLanguage=value)) == [
        (SCHEMA, message, "/QueryLanguage")
    ]


# -- states ---------------------------------------------------------------------------------


def test_every_state_has_a_type() -> None:
    assert problems(machine({"A": {"End": True}})) == [
        (SCHEMA, "These fields are required: [Type]", "/States/A")
    ]


def test_the_type_is_one_of_the_eight_state_types() -> None:
    assert problems(one({"Type": "Sleep"})) == [
        (
            SCHEMA,
            "The field 'Type' should have one of these values: "
            "[Task, Wait, Pass, Succeed, Fail, Choice, Parallel, Map]",
            "/States/A/Type",
        )
    ]


@pytest.mark.parametrize(
    ("state", "field"),
    [
        ({"Type": "Pass", "TimeoutSeconds": 5}, "TimeoutSeconds"),
        ({"Type": "Pass", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "A"}]}, "Catch"),
        ({"Type": "Wait", "Seconds": 1, "Retry": [{"ErrorEquals": ["States.ALL"]}]}, "Retry"),
        ({"Type": "Map", "ItemProcessor": INLINE, "TimeoutSeconds": 5}, "TimeoutSeconds"),
        ({"Type": "Succeed", "Assign": {"x": 1}}, "Assign"),
        ({"Type": "Fail", "InputPath": "$"}, "InputPath"),
        (
            {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "Result": 1},
            "Result",
        ),
        ({"Type": "Pass", "Parameter": {}}, "Parameter"),
    ],
)
def test_a_field_the_state_type_does_not_have_is_refused(state: dict[str, Any], field: str) -> None:
    assert problems(one(state)) == [(SCHEMA, f"Field '{field}' is not supported", "/States/A")]


def test_a_jsonpath_field_is_refused_in_a_jsonata_state() -> None:
    assert problems(one({"Type": "Pass", "InputPath": "$.a"}, QueryLanguage="JSONata")) == [
        (
            SCHEMA,
            "The QueryLanguage is set to 'JSONata', but field 'InputPath' is only supported "
            "for the 'JSONPath' QueryLanguage",
            "/States/A",
        )
    ]


def test_a_jsonata_field_is_refused_in_a_jsonpath_state() -> None:
    assert messages(one({"Type": "Map", "Items": [1], "ItemProcessor": INLINE})) == [
        "The QueryLanguage is set to 'JSONPath', but field 'Items' is only supported "
        "for the 'JSONata' QueryLanguage"
    ]


def test_assign_belongs_to_both_query_languages() -> None:
    validate_definition(one({"Type": "Pass", "Assign": {"x": 1}}))
    validate_definition(one({"Type": "Pass", "Assign": {"x": "{% 1 %}"}}, QueryLanguage="JSONata"))


@pytest.mark.parametrize("name", ["1st", "a-b", "a b", "x" * 81, ""])
def test_a_variable_name_is_an_identifier(name: str) -> None:
    assert problems(one({"Type": "Pass", "Assign": {name: 1}})) == [
        (
            "INVALID_VARIABLE_NAME",
            f"Invalid variable name '{name}': the variable name contains invalid characters.",
            "/States/A/Assign",
        )
    ]


def test_states_is_a_reserved_variable_name() -> None:
    assert problems(one({"Type": "Pass", "Assign": {"states.$": "$"}})) == [
        (
            "RESERVED_VARIABLE_NAME",
            "Cannot assign to reserved variable '$states'.",
            "/States/A/Assign",
        )
    ]


def test_a_jsonpath_assign_value_may_be_a_path() -> None:
    validate_definition(one({"Type": "Pass", "Assign": {"x.$": "$.a", "_y2é": "literal"}}))
    assert messages(one({"Type": "Pass", "Assign": {"x.$": "a"}})) == [
        "The value for the field 'x.$' must be a valid JSONPath or a valid intrinsic function call"
    ]


def test_a_state_may_switch_a_jsonpath_machine_to_jsonata() -> None:
    validate_definition(one({"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% 1 %}"}))


def test_a_state_may_not_switch_a_jsonata_machine_back_to_jsonpath() -> None:
    state = {"Type": "Pass", "QueryLanguage": "JSONPath", "Output": {"v": 1}}
    assert problems(one(state, QueryLanguage="JSONata")) == [
        (
            SCHEMA,
            "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
            "/States/A",
        )
    ]


def test_states_in_a_map_take_the_machines_language_not_the_maps() -> None:
    inner = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": 1, "End": True}}}
    state = {"Type": "Map", "QueryLanguage": "JSONata", "ItemProcessor": inner}
    assert problems(one(state)) == [
        (
            SCHEMA,
            "The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported "
            "for the 'JSONata' QueryLanguage",
            "/States/A/ItemProcessor/States/P",
        )
    ]


def test_a_branch_or_item_processor_has_no_query_language() -> None:
    branch = {**INLINE, "QueryLanguage": "JSONata"}
    assert problems(one({"Type": "Parallel", "Branches": [branch]})) == [
        (SCHEMA, "Field 'QueryLanguage' is not supported", "/States/A/Branches[0]")
    ]


def test_a_state_query_language_other_than_jsonpath_makes_it_jsonata() -> None:
    assert messages(one({"Type": "Pass", "QueryLanguage": "foo", "Output": 1})) == [
        "Value should be one of the following: [JSONPath, JSONata]"
    ]


@pytest.mark.parametrize(
    ("kind", "field"), [("Task", "Resource"), ("Choice", "Choices"), ("Parallel", "Branches")]
)
def test_each_type_has_its_required_fields(kind: str, field: str) -> None:
    assert (SCHEMA, f"These fields are required: [{field}]", "/States/A") in problems(
        one({"Type": kind})
    )


def test_a_state_has_next_or_end_not_both() -> None:
    assert messages(machine({"A": {"Type": "Pass", "Next": "A", "End": True}})) == [
        "There should only be one of the following fields: [Next, End]"
    ]
    assert messages(machine({"A": {"Type": "Pass"}})) == [
        "This object should have only one of the following fields: [Next, End]"
    ]


def test_a_field_and_its_path_form_exclude_each_other() -> None:
    state = {"Type": "Task", "Resource": "r", "TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"}
    assert problems(one(state)) == [
        (
            SCHEMA,
            "There should only be one of the following fields: "
            "[TimeoutSeconds, TimeoutSecondsPath]",
            "/States/A/TimeoutSeconds",
        )
    ]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"Type": "Task", "Resource": "r", "TimeoutSeconds": 0}, "Minimum value is 1"),
        (
            {"Type": "Task", "Resource": "r", "HeartbeatSeconds": 100000000},
            "Maximum value is 99999999",
        ),
        ({"Type": "Wait", "Seconds": -1}, "Minimum value is 0"),
        ({"Type": "Wait", "Seconds": "5"}, "Expected value of type [INTEGER]"),
        ({"Type": "Map", "ItemProcessor": INLINE, "MaxConcurrency": -1}, "Minimum value is 0"),
        (
            {"Type": "Map", "ItemProcessor": INLINE, "ToleratedFailurePercentage": 101},
            "Maximum value is 100",
        ),
    ],
)
def test_numbers_are_integers_in_range(state: dict[str, Any], message: str) -> None:
    assert messages(one(state)) == [message]


def test_a_jsonata_state_may_give_a_number_as_an_expression() -> None:
    state = {"Type": "Wait", "Seconds": "{% $states.input.n %}"}
    validate_definition(one(state, QueryLanguage="JSONata"))


def test_a_wait_state_has_exactly_one_timing_field() -> None:
    assert messages(one({"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s"})) == [
        "There should only be one of the following fields: "
        "[SecondsPath, Seconds, TimestampPath, Timestamp]"
    ]


@pytest.mark.parametrize(
    "timestamp",
    [
        "2016-12-05 21:29:29Z",
        "2016-12-05T21:29:29",
        "2016-13-05T21:29:29Z",
        "2016-12-05T25:29:29Z",
        "05-12-2016T21:29:29Z",
        "{% '2016-03-14T01:59:00Z' %}",
    ],
)
def test_a_wait_timestamp_is_rfc3339(timestamp: str) -> None:
    assert problems(one({"Type": "Wait", "Timestamp": timestamp})) == [
        (SCHEMA, "String does not match RFC3339 timestamp", "/States/A/Timestamp")
    ]


@pytest.mark.parametrize(
    "timestamp", ["2016-03-05T21:29:29.243167252Z", "2016-03-05T21:29:29+01:00"]
)
def test_rfc3339_allows_fractions_and_offsets(timestamp: str) -> None:
    validate_definition(one({"Type": "Wait", "Timestamp": timestamp}))


def test_a_jsonata_wait_may_compute_its_timestamp() -> None:
    state = {"Type": "Wait", "Timestamp": "{% $states.input.at %}"}
    validate_definition(one(state, QueryLanguage="JSONata"))


# -- paths and intrinsic functions ----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "$.a",
        "$",
        "$$.Execution.Id",
        "$var.x",
        "$.a[0]",
        "$.a[*].b",
        "$.items[1:]",
        "$..x",
        "$['a b']",
        "$.abc.['def ghi']",
        "$.a[?(@.b > 1)]",
        "States.Format('{} and \\'{}\\'', $.a, States.UUID())",
        "States.Array(1, -2.5, true, null, 'x')",
        "States.StringToJson('{\\\\\\\\ }')",
    ],
)
def test_a_dollar_key_holds_a_path_or_an_intrinsic_call(value: str) -> None:
    validate_definition(one({"Type": "Pass", "Parameters": {"x": {"v.$": value}}}))


@pytest.mark.parametrize(
    "value",
    [
        "a.b",
        "",
        "$.a[",
        "States.Nope(1)",
        "States.Format('unclosed)",
        "States.Format('a', )",
        'States.StringToJson(\'{"text":"An \\"escaped\\" quote"}\')',
        "States.Format('a\\nb')",
        5,
    ],
)
def test_a_dollar_key_refuses_anything_else(value: Any) -> None:
    assert problems(one({"Type": "Pass", "Parameters": {"v.$": value}})) == [
        (
            SCHEMA,
            "The value for the field 'v.$' must be a valid JSONPath "
            "or a valid intrinsic function call",
            "/States/A/Parameters",
        )
    ]


def test_a_nested_dollar_key_is_located_at_its_object() -> None:
    assert [
        loc for _, _, loc in problems(one({"Type": "Pass", "Parameters": {"o": {"v.$": "x"}}}))
    ] == ["/States/A/Parameters/o"]


def test_input_and_output_paths_are_paths_or_null() -> None:
    validate_definition(one({"Type": "Pass", "InputPath": None, "OutputPath": "$.a"}))
    assert problems(one({"Type": "Pass", "InputPath": "a"})) == [
        (
            SCHEMA,
            "Value must be a valid JSONPath.",
            "/States/A/InputPath",
        )
    ]


def test_result_path_names_one_node() -> None:
    validate_definition(one({"Type": "Pass", "ResultPath": None}))
    validate_definition(one({"Type": "Pass", "ResultPath": "$.a['b'][0]"}))
    assert messages(one({"Type": "Pass", "ResultPath": "$.a.length()"})) == [
        "Value is not a Reference Path"
    ]
    assert messages(one({"Type": "Pass", "ResultPath": "$.a[*]"})) == [
        "Value is not a Reference Path"
    ]


def test_error_path_and_cause_path_may_call_an_intrinsic() -> None:
    state = {"Type": "Fail", "ErrorPath": "States.Format('{}', $.e)", "CausePath": "$.c"}
    validate_definition(one(state))


# -- Task ----------------------------------------------------------------------------------


def test_credentials_need_a_role_arn() -> None:
    state = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Credentials": {}}
    assert problems(one(state)) == [
        (SCHEMA, "The field 'RoleArn' is required but was missing", "/States/A/Credentials")
    ]
    validate_definition(one({**state, "Credentials": {"RoleArn.$": "$.role"}}))


@pytest.mark.parametrize(
    "resource",
    [
        "arn:aws:lambda:us-east-1:123456789012:function:f",
        "arn:aws:states:::aws-sdk:s3:listBuckets",
        "arn:aws:states:::dynamodb:getItem",
        "anything at all",
        "arn:aws:states:::glue:startJobRun.sync",
    ],
)
def test_any_resource_string_is_accepted(resource: str) -> None:
    validate_definition(one({"Type": "Task", "Resource": resource}))


def test_an_api_an_optimized_integration_does_not_have_is_refused() -> None:
    assert messages(one({"Type": "Task", "Resource": "arn:aws:states:::dynamodb:query"})) == [
        "The resource provided arn:aws:states:::dynamodb:query is not recognized. The value is "
        "not a valid resource ARN, or the resource is not available in this region."
    ]


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (
            "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Express state machine does not support '.waitForTaskToken' service integration ",
        ),
        (
            "arn:aws:states:::states:startExecution.sync",
            "Express state machine does not support '.sync' service integration",
        ),
    ],
)
def test_an_express_machine_refuses_callbacks_and_sync_jobs(resource: str, message: str) -> None:
    definition = one({"Type": "Task", "Resource": resource})
    validate_definition(definition, "STANDARD")
    assert problems(definition, "EXPRESS") == [(SCHEMA, message, "/States/A/Resource")]


def test_an_express_machine_refuses_a_distributed_map() -> None:
    processor = {**INLINE, "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}}
    definition = one({"Type": "Map", "ItemProcessor": processor})
    validate_definition(definition)
    assert messages(definition, "EXPRESS") == [
        "The field 'Mode' with value 'DISTRIBUTED' is not supported inside 'EXPRESS' state machines"
    ]


# -- Map and Parallel ------------------------------------------------------------------------


def test_a_map_has_an_item_processor_or_an_iterator() -> None:
    assert messages(one({"Type": "Map"})) == [
        "This object should have only one of the following fields: [ItemProcessor, Iterator]"
    ]
    validate_definition(one({"Type": "Map", "Iterator": INLINE}))


def test_a_distributed_map_names_its_execution_type() -> None:
    processor = {**INLINE, "ProcessorConfig": {"Mode": "DISTRIBUTED"}}
    assert problems(one({"Type": "Map", "ItemProcessor": processor})) == [
        (
            SCHEMA,
            "These fields are required: [ExecutionType]",
            "/States/A/ItemProcessor/ProcessorConfig",
        )
    ]


def test_an_inline_map_has_no_execution_type() -> None:
    processor = {**INLINE, "ProcessorConfig": {"Mode": "INLINE", "ExecutionType": "STANDARD"}}
    assert messages(one({"Type": "Map", "ItemProcessor": processor})) == [
        "Field 'ExecutionType' is not supported"
    ]


def test_a_parallel_state_has_at_least_one_branch() -> None:
    assert problems(one({"Type": "Parallel", "Branches": []})) == [
        (SCHEMA, "Value cannot be empty", "/States/A/Branches")
    ]


def test_a_branch_needs_its_states_and_start() -> None:
    assert problems(one({"Type": "Parallel", "Branches": [{}]})) == [
        (SCHEMA, "These fields are required: [States, StartAt]", "/States/A/Branches[0]")
    ]


# -- Choice --------------------------------------------------------------------------------


def choice(*rules: dict[str, Any], **extra: Any) -> str:
    return machine(
        {"A": {"Type": "Choice", "Choices": list(rules), **extra}, "B": {"Type": "Succeed"}}
    )


def test_a_choice_state_has_at_least_one_rule() -> None:
    assert problems(choice(Default="B")) == [(SCHEMA, "Value cannot be empty", "/States/A/Choices")]


def test_a_top_level_rule_has_a_next() -> None:
    assert problems(choice({"Variable": "$.x", "IsPresent": True}, Default="B")) == [
        (SCHEMA, "These fields are required: [Next]", "/States/A/Choices[0]")
    ]


def test_a_nested_rule_has_no_next() -> None:
    rule = {"Not": {"Variable": "$.x", "IsNull": True, "Next": "B"}, "Next": "B"}
    assert problems(choice(rule)) == [
        (SCHEMA, "Field 'Next' is not supported", "/States/A/Choices[0]/Not")
    ]


def test_a_jsonpath_rule_compares_one_variable_once() -> None:
    rule = {"Variable": "$.x", "IsNull": True, "IsPresent": True, "Next": "B"}
    assert len(problems(choice(rule))) == 1
    validate_definition(choice({"And": [{"Variable": "$.x", "IsNull": False}], "Next": "B"}))


def test_condition_belongs_to_jsonata_and_variable_to_jsonpath() -> None:
    assert messages(choice({"Condition": "{% true %}", "Next": "B"})) == [
        "The QueryLanguage is set to 'JSONPath', but field 'Condition' is only supported "
        "for the 'JSONata' QueryLanguage"
    ]
    jsonata = machine(
        {
            "A": {"Type": "Choice", "Choices": [{"Condition": "{% true %}", "Next": "B"}]},
            "B": {"Type": "Succeed"},
        },
        QueryLanguage="JSONata",
    )
    validate_definition(jsonata)


def test_a_path_comparison_compares_with_a_path() -> None:
    assert messages(choice({"Variable": "$.x", "StringEqualsPath": "y", "Next": "B"})) == [
        "Value must be a valid JSONPath."
    ]


# -- Retry and Catch -----------------------------------------------------------------------


def task(**handlers: Any) -> str:
    return machine(
        {"A": {"Type": "Task", "Resource": "r", "Next": "B", **handlers}, "B": {"Type": "Succeed"}}
    )


@pytest.mark.parametrize(
    ("retrier", "message"),
    [
        ({}, "These fields are required: [ErrorEquals]"),
        ({"ErrorEquals": []}, "Value cannot be empty"),
        ({"ErrorEquals": ["X"], "MaxAttempts": -1}, "Minimum value is 0"),
        ({"ErrorEquals": ["X"], "BackoffRate": 0.5}, "Minimum value is 1"),
        (
            {"ErrorEquals": ["X"], "JitterStrategy": "HALF"},
            "Value should be one of the following: [FULL, NONE]",
        ),
        ({"ErrorEquals": ["X"], "Backoff": 2}, "Field 'Backoff' is not supported"),
    ],
)
def test_a_retrier_is_checked(retrier: dict[str, Any], message: str) -> None:
    assert messages(task(Retry=[retrier])) == [message]


def test_states_all_stands_alone_in_the_last_handler() -> None:
    retry = [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X", "States.ALL"]}]
    catch = [{"ErrorEquals": ["States.ALL"], "Next": "B"}, {"ErrorEquals": ["X"], "Next": "B"}]
    message = "States.ALL must appear alone and at end of list"
    assert problems(task(Retry=retry, Catch=catch)) == [
        (SCHEMA, message, "/States/A/Retry[0]/ErrorEquals[0]"),
        (SCHEMA, message, "/States/A/Retry[1]/ErrorEquals[1]"),
        (SCHEMA, message, "/States/A/Catch[0]/ErrorEquals[0]"),
    ]


def test_a_catcher_names_its_next_state() -> None:
    assert problems(task(Catch=[{"ErrorEquals": ["States.ALL"]}])) == [
        (SCHEMA, "These fields are required: [Next]", "/States/A/Catch[0]")
    ]


def test_a_catcher_uses_its_states_query_language() -> None:
    catcher = {"ErrorEquals": ["States.ALL"], "Next": "B", "Output": "x"}
    assert messages(task(Catch=[catcher])) == [
        "The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported "
        "for the 'JSONata' QueryLanguage"
    ]


# -- transitions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "location"),
    [
        (
            {
                "A": {
                    "Type": "Task",
                    "Resource": "r",
                    "Next": "X",
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "B"}],
                },
                "B": {"Type": "Succeed"},
            },
            "/States/A/Next",
        ),
        (
            {
                "A": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.x", "IsNull": True, "Next": "X"}],
                    "Default": "B",
                },
                "B": {"Type": "Succeed"},
            },
            "/States/A/Choices[0]/Next",
        ),
        (
            {
                "A": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.x", "IsNull": True, "Next": "B"}],
                    "Default": "X",
                },
                "B": {"Type": "Succeed"},
            },
            "/States/A/Default",
        ),
        (
            {
                "A": {
                    "Type": "Task",
                    "Resource": "r",
                    "Next": "B",
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "X"}],
                },
                "B": {"Type": "Succeed"},
            },
            "/States/A/Catch[0]/Next",
        ),
    ],
)
def test_every_transition_names_an_existing_state(states: dict[str, Any], location: str) -> None:
    assert problems(machine(states)) == [(TARGET, "Missing 'Next' target: X", location)]


def test_a_missing_start_leaves_every_state_unreachable() -> None:
    assert problems(machine({"A": PASS_END}, start="X")) == [
        (TARGET, "Missing 'Next' target: X", "/StartAt"),
        (TARGET, 'State "A" is not reachable.', "/States/A"),
    ]


def test_every_state_is_reachable() -> None:
    assert problems(machine({"A": PASS_END, "a/b": PASS_END})) == [
        (TARGET, 'State "a/b" is not reachable.', "/States/a/b")
    ]


def test_a_machine_needs_a_terminal_state_and_then_no_reachability_is_reported() -> None:
    states = {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "Next": "A"},
        "U": {"Type": "Pass", "Next": "A"},
    }
    assert problems(machine(states)) == [
        ("MISSING_END_STATE", "Workflow has no terminal state", None)
    ]


def test_a_loop_inside_a_map_needs_no_terminal_state() -> None:
    loop = {
        "StartAt": "L",
        "States": {"L": {"Type": "Pass", "Next": "M"}, "M": {"Type": "Pass", "Next": "L"}},
    }
    validate_definition(one({"Type": "Map", "ItemProcessor": loop}))


def test_a_transition_does_not_leave_its_branch() -> None:
    branch = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "B"}}}
    states = {
        "A": {"Type": "Parallel", "Branches": [branch], "Next": "B"},
        "B": {"Type": "Succeed"},
    }
    assert problems(machine(states)) == [
        (TARGET, "Missing 'Next' target: B", "/States/A/Branches[0]/States/P/Next")
    ]


def test_an_unreachable_state_inside_a_map_is_located_there() -> None:
    processor = {"StartAt": "P", "States": {"P": PASS_END, "Q": PASS_END}}
    assert problems(one({"Type": "Map", "ItemProcessor": processor})) == [
        (TARGET, 'State "Q" is not reachable.', "/States/A/ItemProcessor/States/Q")
    ]


def test_transitions_are_checked_once_the_schema_holds() -> None:
    states = {"A": {"Type": "Pass", "Next": "X", "Bogus": 1}}
    assert problems(machine(states)) == [(SCHEMA, "Field 'Bogus' is not supported", "/States/A")]


# -- properties ----------------------------------------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)


def chain_of(names: list[str]) -> dict[str, Any]:
    """Pass states, each moving on to the next name, the last one ending."""
    states: dict[str, Any] = {
        name: {"Type": "Pass", "Next": after} for name, after in itertools.pairwise(names)
    }
    states[names[-1]] = PASS_END
    return states


@given(st.lists(names, min_size=1, max_size=8, unique=True))
def test_a_chain_of_pass_states_is_valid(chain: list[str]) -> None:
    validate_definition(machine(chain_of(chain), start=chain[0]))


@given(st.lists(names, min_size=2, max_size=8, unique=True), st.data())
def test_every_state_a_chain_skips_is_reported_unreachable(
    chain: list[str], data: st.DataObject
) -> None:
    skipped = data.draw(st.sets(st.sampled_from(chain[1:-1])) if len(chain) > 2 else st.just(set()))
    states = chain_of([name for name in chain if name not in skipped])
    for name in skipped:
        states[name] = PASS_END
    found = problems(machine(states, start=chain[0]))
    assert sorted(found) == sorted(
        (TARGET, f'State "{name}" is not reachable.', f"/States/{name}") for name in skipped
    )


_FIELDS = sorted(set().union(*STATE_FIELDS.values()) | {"Type", "Comment", "QueryLanguage"})
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["$.a", "{% 1 %}", "States.ALL", "A", "B", "JSONata", "x.$", "DISTRIBUTED"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from([*_FIELDS, "ErrorEquals", "Mode", "a.$"]), inner, max_size=4
        )
    ),
    max_leaves=8,
)
_STATES = st.builds(
    lambda kind, fields: {"Type": kind, **fields},
    st.sampled_from(STATE_TYPES),
    st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=5),
)
_MACHINES = st.fixed_dictionaries(
    {
        "StartAt": st.sampled_from(["A", "B"]),
        "States": st.dictionaries(st.sampled_from(["A", "B"]), _STATES | _JSON),
    },
    optional={"QueryLanguage": st.sampled_from(["JSONata", "JSONPath", "x"])},
)


@given(_MACHINES, st.sampled_from(["STANDARD", "EXPRESS"]))
def test_any_definition_is_either_valid_or_refused_with_diagnostics(
    definition: dict[str, Any], machine_type: str
) -> None:
    for code, message, _ in problems(orjson.dumps(definition).decode(), machine_type):
        assert code and message
