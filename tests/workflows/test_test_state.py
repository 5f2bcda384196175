"""test_state: TestState over one state, with mocks, retries and catches."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from eventbus.errors import InvalidDefinition, RequestRejected
from eventbus.workflows import test_state as run_test_state

TASK = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}


def _request(state: dict[str, Any], data: Any = None, **more: Any) -> dict[str, Any]:
    return {"definition": orjson.dumps(state).decode(),
            "input": orjson.dumps({} if data is None else data).decode(), **more}


def test_a_pass_state_succeeds_with_its_output_and_next_state() -> None:
    answer = run_test_state(_request({"Type": "Pass", "Result": 1, "Next": "B"}))
    assert answer == {"status": "SUCCEEDED", "output": "1", "nextState": "B"}


def test_a_state_is_picked_from_a_whole_definition_by_name() -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": 2, "End": True}}}
    assert run_test_state(_request(definition, stateName="A"))["output"] == "2"
    with pytest.raises(RequestRejected):
        run_test_state(_request(definition, stateName="Nope"))


def test_a_task_answers_with_its_mocked_result() -> None:
    answer = run_test_state(_request(TASK, mock={"result": '{"ok": true}'}))
    assert (answer["status"], orjson.loads(answer["output"])) == ("SUCCEEDED", {"ok": True})


def test_a_mocked_error_that_a_retrier_would_retry_is_retriable() -> None:
    state = {**TASK, "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 2}]}
    mock = {"errorOutput": {"error": "Boom", "cause": "why"}}
    assert run_test_state(_request(state, mock=mock))["status"] == "RETRIABLE"
    spent = {"retrierRetryCount": 2}
    answer = run_test_state(_request(state, mock=mock, stateConfiguration=spent))
    assert answer["status"] == "FAILED"


def test_a_mocked_error_that_a_catcher_takes_is_caught_with_its_next_state() -> None:
    state = {**TASK, "Catch": [{"ErrorEquals": ["Boom"], "Next": "H"}]}
    mock = {"errorOutput": {"error": "Boom", "cause": "c"}}
    answer = run_test_state(_request(state, mock=mock))
    assert (answer["status"], answer["nextState"], answer["error"]) == ("CAUGHT_ERROR", "H", "Boom")


def test_a_map_state_needs_a_mock_and_takes_its_result_as_the_iterations_outputs() -> None:
    state = {"Type": "Map", "End": True,
             "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}}
    with pytest.raises(InvalidDefinition):
        run_test_state(_request(state, [1]))
    answer = run_test_state(_request(state, [1], mock={"result": "[10]"}))
    assert answer["output"] == "[10]"


def test_mocks_are_refused_for_states_that_call_nothing() -> None:
    with pytest.raises(RequestRejected) as err:
        run_test_state(_request({"Type": "Pass", "End": True}, mock={"result": "{}"}))
    assert err.value.code == "ValidationException"


def test_a_mocked_result_is_checked_against_the_integrations_response_model() -> None:
    state = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
    with pytest.raises(RequestRejected, match="Field 'StatusCode' must be a number"):
        run_test_state(_request(state, mock={"result": '{"StatusCode": "200"}'}))
    lenient = {"result": '{"StatusCode": "200"}', "fieldValidationMode": "NONE"}
    assert run_test_state(_request(state, mock=lenient))["status"] == "SUCCEEDED"


def test_strict_mode_requires_the_models_required_fields_and_present_mode_does_not() -> None:
    state = {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution", "End": True}
    with pytest.raises(RequestRejected, match="Required field 'ExecutionArn' is missing"):
        run_test_state(_request(state, mock={"result": "{}"}))
    present = {"result": "{}", "fieldValidationMode": "PRESENT"}
    assert run_test_state(_request(state, mock=present))["status"] == "SUCCEEDED"


def test_debug_inspection_data_shows_the_input_after_each_stage() -> None:
    state = {"Type": "Pass", "InputPath": "$.in", "Parameters": {"v.$": "$.x"},
             "ResultPath": "$.out", "End": True}
    answer = run_test_state(_request(state, {"in": {"x": 1}}, inspectionLevel="DEBUG"))
    data = {k: orjson.loads(v) for k, v in answer["inspectionData"].items()}
    assert data["afterInputPath"] == {"x": 1}
    assert data["afterParameters"] == {"v": 1}
    assert data["afterResultPath"] == {"in": {"x": 1}, "out": {"v": 1}}
    assert "inspectionData" not in run_test_state(_request(state, {"in": {"x": 1}}))
