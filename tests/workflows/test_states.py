"""State families and their input/output processing, one rule of the ASL spec per test."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from .helpers import output, run, types


def test_jsonpath_pipeline_is_inputpath_parameters_resultpath_outputpath() -> None:
    state = {
        "Type": "Pass", "InputPath": "$.in", "Parameters": {"v.$": "$.x", "k": 1},
        "ResultPath": "$.in.res", "OutputPath": "$.in", "End": True,
    }
    assert output(run({"A": state}, {"in": {"x": 5}})) == {"x": 5, "res": {"v": 5, "k": 1}}


def test_result_path_null_discards_the_result() -> None:
    state = {"Type": "Pass", "Result": 1, "ResultPath": None, "End": True}
    assert output(run({"A": state}, {"keep": True})) == {"keep": True}


def test_output_path_null_outputs_an_empty_object() -> None:
    assert output(run({"A": {"Type": "Pass", "OutputPath": None, "End": True}}, {"a": 1})) == {}


def test_a_missing_input_path_fails_with_states_runtime_naming_the_state_and_event() -> None:
    result = run({"P": {"Type": "Pass", "InputPath": "$.nope", "End": True}})
    assert result["error"] == "States.Runtime"
    assert result["cause"].startswith(
        "An error occurred while executing the state 'P' (entered at the event id #2). "
    )


def test_jsonata_pass_output_defaults_to_its_input_and_sees_states_input() -> None:
    top = {"QueryLanguage": "JSONata"}
    assert output(run({"A": {"Type": "Pass", "End": True}}, {"a": 1}, top=top)) == {"a": 1}
    state = {"Type": "Pass", "Output": {"double": "{% $states.input.a * 2 %}"}, "End": True}
    assert output(run({"A": state}, {"a": 2}, top=top)) == {"double": 4}


def test_query_language_can_be_set_per_state() -> None:
    states = {
        "J": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.input.a %}",
              "Next": "P"},
        "P": {"Type": "Pass", "Parameters": {"v.$": "$"}, "End": True},
    }
    assert output(run(states, {"a": 3})) == {"v": 3}


def test_jsonata_task_arguments_are_the_task_input_and_output_defaults_to_its_result() -> None:
    top = {"QueryLanguage": "JSONata"}
    state = {"Type": "Task", "Resource": "echo", "Arguments": {"x": "{% $states.input.a %}"},
             "End": True}
    result = run({"T": state}, {"a": 7}, top=top, tasks={"echo": lambda v: {"got": v}})
    assert output(result) == {"got": {"x": 7}}


def test_a_jsonata_expression_returning_nothing_is_a_query_evaluation_error() -> None:
    state = {"Type": "Pass", "Output": "{% $states.input.missing %}", "End": True}
    result = run({"A": state}, {}, top={"QueryLanguage": "JSONata"})
    assert result["error"] == "States.QueryEvaluationError"
    assert "EvaluationFailed" in types(result)


def test_choice_takes_the_first_matching_rule_else_the_default() -> None:
    states = {
        "C": {"Type": "Choice", "Default": "D", "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}]},
        "Big": {"Type": "Pass", "Result": "big", "End": True},
        "D": {"Type": "Pass", "Result": "small", "End": True},
    }
    assert output(run(states, {"n": 11})) == "big"
    assert output(run(states, {"n": 1})) == "small"


def test_choice_without_match_or_default_fails_the_execution() -> None:
    states = {"C": {"Type": "Choice", "Choices": [
        {"Variable": "$.n", "NumericEquals": 1, "Next": "X"}]},
        "X": {"Type": "Succeed"}}
    result = run(states, {"n": 2})
    assert result["error"] == "States.Runtime"
    assert "does not point to a next state" in result["cause"]


def test_wait_seconds_path_must_reference_a_non_negative_integer() -> None:
    state = {"Type": "Wait", "SecondsPath": "$.s", "End": True}
    result = run({"W": state}, {"s": -1.5})
    assert result["error"] == "States.Runtime"
    assert result["cause"].endswith(
        "The SecondsPath parameter cannot be parsed as a long value: $.s == -1.5")


def test_wait_until_a_timestamp_in_the_past_goes_on_at_once() -> None:
    state = {"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "End": True}
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert run({"W": state}, {"a": 1}, start_time=start)["status"] == "SUCCEEDED"


def test_wait_timestamp_path_must_be_an_rfc3339_date_time_with_offset() -> None:
    state = {"Type": "Wait", "TimestampPath": "$.t", "End": True}
    result = run({"W": state}, {"t": "2016-12-05T21:29:29"})
    assert result["error"] == "States.Runtime"
    assert "ISO-8601 extended offset date-time" in result["cause"]


def test_fail_state_reports_its_error_and_cause_and_records_no_exit() -> None:
    result = run({"F": {"Type": "Fail", "Error": "E", "Cause": "C"}})
    assert (result["status"], result["error"], result["cause"]) == ("FAILED", "E", "C")
    assert types(result) == ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]


def test_fail_state_error_path_and_cause_path_read_the_input() -> None:
    state = {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "$.c"}
    result = run({"F": state}, {"e": "Err", "c": "why"})
    assert (result["error"], result["cause"]) == ("Err", "why")


def test_succeed_state_ends_the_execution_with_its_input() -> None:
    states = {"P": {"Type": "Pass", "Next": "S"}, "S": {"Type": "Succeed"}}
    result = run(states, {"a": 1})
    assert output(result) == {"a": 1}
    assert types(result)[-3:] == ["SucceedStateEntered", "SucceedStateExited",
                                  "ExecutionSucceeded"]


def test_context_object_describes_the_execution_and_the_state() -> None:
    state = {"Type": "Pass", "Parameters": {"ctx.$": "$$"}, "End": True}
    ctx = output(run({"S": state}, {"a": 1}, execution_name="ex"))["ctx"]
    assert ctx["Execution"]["Name"] == "ex"
    assert ctx["Execution"]["Input"] == {"a": 1}
    assert ctx["Execution"]["RedriveCount"] == 0
    assert ctx["State"]["Name"] == "S"
    assert ctx["Execution"]["Id"].endswith(":execution:LocalStateMachine:ex")


def test_express_executions_have_express_ids_and_sync_ones_no_redrive_count() -> None:
    state = {"Type": "Pass", "Parameters": {"ctx.$": "$$.Execution"}, "End": True}
    ctx = output(run({"S": state}, state_machine_type="EXPRESS",
                     invocation="StartSyncExecution"))["ctx"]
    assert ":express:" in ctx["Id"]
    assert "RedriveCount" not in ctx


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=5), _JSON, max_size=4), _JSON)
def test_result_path_sets_its_field_and_keeps_the_rest_of_the_input(
    data: dict[str, object], result: object
) -> None:
    state = {"Type": "Pass", "Result": result, "ResultPath": "$.placed", "End": True}
    assert output(run({"A": state}, data)) == {**data, "placed": result}


@given(_JSON.filter(lambda v: v is not None))  # the helper reads None as "no input"
def test_a_chain_of_plain_pass_states_passes_any_input_through(data: object) -> None:
    states = {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}}
    assert output(run(states, data)) == data
