"""The Step Functions API on the gateway, through boto3's own ``stepfunctions`` client.

State machines and activities created over the API live in Redis; those of workflow files are
read-only; ValidateStateMachineDefinition and TestState answer from the pure core.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from gateway_server import KEY_ID, REGION, SECRET, RunningGateway
from sfn_gateway import PASS, ROLE, sfn_client, sfn_gateway
from sfn_gateway import create as _create
from sfn_gateway import refusal as _error

from eventbus import keys
from eventbus.sigv4 import sign_request

OTHER = orjson.dumps(
    {"StartAt": "Q", "States": {"Q": {"Type": "Pass", "Result": 1, "End": True}}}
).decode()
# Two problems: a state without Type, and one with both Next and End.
BROKEN = orjson.dumps({"StartAt": "A", "States": {
    "A": {"Next": "C"}, "C": {"Type": "Pass", "Next": "A", "End": True}}}).decode()


@pytest.fixture(scope="module")
def workflow_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("workflows") / "nightly.asl.json"
    path.write_text(PASS)
    return path


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, redis_server: Any, workflow_file: Path
) -> Iterator[RunningGateway]:
    with sfn_gateway(tmp_path_factory.mktemp("rules"), redis_server.url, workflow_file) as gw:
        yield gw


@pytest.fixture
def sfn(gateway: RunningGateway, redis_url: str) -> Any:
    return sfn_client(gateway.url)


@pytest.fixture
def raw_sfn(gateway: RunningGateway, redis_url: str) -> Any:
    return sfn_client(gateway.url, validate=False)


# State machines


def test_a_created_machine_is_described_with_aws_arn_and_fields(sfn: Any) -> None:
    created = sfn.create_state_machine(name="orders", definition=PASS, roleArn=ROLE)
    arn = created["stateMachineArn"]
    assert arn.startswith("arn:aws:states:") and arn.endswith(":stateMachine:orders")
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["name"] == "orders"
    assert described["definition"] == PASS
    assert described["roleArn"] == ROLE
    assert described["type"] == "STANDARD"
    assert described["status"] == "ACTIVE"
    assert described["creationDate"] == created["creationDate"]
    assert described["revisionId"]
    assert described["loggingConfiguration"]["level"] == "OFF"
    assert described["tracingConfiguration"] == {"enabled": False}


def test_an_express_machine_keeps_its_type(sfn: Any) -> None:
    arn = _create(sfn, "fast", type="EXPRESS")
    assert sfn.describe_state_machine(stateMachineArn=arn)["type"] == "EXPRESS"


def test_an_express_machine_refuses_what_express_cannot_run(sfn: Any) -> None:
    waits = orjson.dumps({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "End": True}}}).decode()  # fmt: skip
    code, _ = _error(sfn.create_state_machine, name="x", definition=waits, roleArn=ROLE,
                     type="EXPRESS")  # fmt: skip
    assert code == "InvalidDefinition"


def test_creating_the_same_machine_again_answers_the_first(sfn: Any) -> None:
    first = sfn.create_state_machine(name="again", definition=PASS, roleArn=ROLE)
    # A different role is ignored, as AWS ignores it.
    second = sfn.create_state_machine(name="again", definition=PASS, roleArn=ROLE + "-2")
    assert second["stateMachineArn"] == first["stateMachineArn"]
    assert second["creationDate"] == first["creationDate"]


def test_a_taken_name_with_another_definition_already_exists(sfn: Any) -> None:
    arn = _create(sfn, "taken")
    code, message = _error(sfn.create_state_machine, name="taken", definition=OTHER,
                           roleArn=ROLE)  # fmt: skip
    assert code == "StateMachineAlreadyExists"
    assert message == f"State Machine Already Exists: '{arn}'"


def test_an_invalid_definition_is_refused_with_aws_message(sfn: Any) -> None:
    code, message = _error(sfn.create_state_machine, name="bad", definition=BROKEN,
                           roleArn=ROLE)  # fmt: skip
    assert code == "InvalidDefinition"
    assert message.startswith("Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: ")
    assert sfn.list_state_machines()["stateMachines"] == [_listed(sfn, "nightly")]


def test_a_name_aws_refuses_is_invalid_name(sfn: Any) -> None:
    for name in ("has space", "a:b", "slash/name", "tab\tname"):
        assert _error(sfn.create_state_machine, name=name, definition=PASS, roleArn=ROLE) == (
            "InvalidName", f"Invalid Name: '{name}'")  # fmt: skip


def test_a_name_over_80_characters_breaks_the_model(sfn: Any) -> None:
    code, message = _error(sfn.create_state_machine, name="n" * 81, definition=PASS,
                           roleArn=ROLE)  # fmt: skip
    assert code == "ValidationException"
    assert "at 'name' failed to satisfy constraint" in message


def test_an_unknown_type_breaks_the_model(raw_sfn: Any) -> None:
    code, message = _error(raw_sfn.create_state_machine, name="t", definition=PASS,
                           roleArn=ROLE, type="SLOW")  # fmt: skip
    assert code == "ValidationException"
    assert message.endswith("Member must satisfy enum value set: [STANDARD, EXPRESS]")


def test_a_missing_definition_breaks_the_model(raw_sfn: Any) -> None:
    code, message = _error(raw_sfn.create_state_machine, name="t", roleArn=ROLE)
    assert code == "ValidationException"
    assert "'definition' failed to satisfy constraint: Member must not be null" in message


def test_a_role_that_is_not_an_arn_is_invalid_arn(sfn: Any) -> None:
    code, _ = _error(sfn.create_state_machine, name="r", definition=PASS, roleArn="admin")
    assert code == "InvalidArn"


def test_describing_an_unknown_machine_does_not_exist(sfn: Any) -> None:
    arn = _create(sfn, "known").replace(":known", ":unknown")
    assert _error(sfn.describe_state_machine, stateMachineArn=arn) == (
        "StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")  # fmt: skip


def test_a_machine_arn_of_another_account_does_not_exist(sfn: Any) -> None:
    arn = "arn:aws:states:us-east-1:999999999999:stateMachine:orders"
    _create(sfn, "orders")
    assert _error(sfn.describe_state_machine, stateMachineArn=arn)[0] == (
        "StateMachineDoesNotExist")


def test_an_arn_of_the_wrong_kind_or_form_is_invalid_arn(sfn: Any) -> None:
    activity = sfn.create_activity(name="work")["activityArn"]
    assert _error(sfn.describe_state_machine, stateMachineArn=activity) == (
        "InvalidArn", "Invalid Arn: 'Resource type not valid in this context: activity'")
    assert _error(sfn.describe_state_machine, stateMachineArn="orders") == (
        "InvalidArn", "Invalid Arn: 'Invalid ARN prefix: orders'")


def test_an_update_stores_a_new_revision(sfn: Any) -> None:
    arn = _create(sfn, "grows")
    before = sfn.describe_state_machine(stateMachineArn=arn)
    updated = sfn.update_state_machine(stateMachineArn=arn, definition=OTHER)
    after = sfn.describe_state_machine(stateMachineArn=arn)
    assert after["definition"] == OTHER
    assert after["revisionId"] == updated["revisionId"] != before["revisionId"]
    assert after["creationDate"] == before["creationDate"]
    assert updated["updateDate"] >= before["creationDate"]


def test_an_update_of_the_role_alone_keeps_the_definition(sfn: Any) -> None:
    arn = _create(sfn, "role")
    sfn.update_state_machine(stateMachineArn=arn, roleArn=ROLE + "-new")
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert (described["roleArn"], described["definition"]) == (ROLE + "-new", PASS)


def test_an_update_with_an_invalid_definition_changes_nothing(sfn: Any) -> None:
    arn = _create(sfn, "stays")
    assert _error(sfn.update_state_machine, stateMachineArn=arn, definition=BROKEN)[0] == (
        "InvalidDefinition")
    assert sfn.describe_state_machine(stateMachineArn=arn)["definition"] == PASS


def test_an_update_without_changes_misses_a_parameter(sfn: Any) -> None:
    arn = _create(sfn, "same")
    assert _error(sfn.update_state_machine, stateMachineArn=arn)[0] == "MissingRequiredParameter"


def test_updating_an_unknown_machine_does_not_exist(sfn: Any) -> None:
    arn = _create(sfn, "here").replace(":here", ":gone")
    assert _error(sfn.update_state_machine, stateMachineArn=arn, definition=PASS)[0] == (
        "StateMachineDoesNotExist")


def test_a_deleted_machine_no_longer_exists(sfn: Any) -> None:
    arn = _create(sfn, "brief")
    assert sfn.delete_state_machine(stateMachineArn=arn)["ResponseMetadata"][
        "HTTPStatusCode"] == 200
    assert _error(sfn.describe_state_machine, stateMachineArn=arn)[0] == (
        "StateMachineDoesNotExist")
    # Deleting it again succeeds, as AWS's does.
    sfn.delete_state_machine(stateMachineArn=arn)


def _listed(sfn: Any, name: str) -> dict[str, Any]:
    described = sfn.describe_state_machine(
        stateMachineArn=_arn_of(sfn, name)
    )
    return {key: described[key] for key in ("stateMachineArn", "name", "type", "creationDate")}


def _arn_of(sfn: Any, name: str) -> str:
    for machine in sfn.list_state_machines(maxResults=1000)["stateMachines"]:
        if machine["name"] == name:
            return str(machine["stateMachineArn"])
    raise AssertionError(name)


def test_machines_are_listed_by_name_in_pages(sfn: Any) -> None:
    for name in ("e", "c", "a", "d", "b"):
        _create(sfn, name)
    names: list[str] = []
    pages = 0
    params: dict[str, Any] = {"maxResults": 2}
    while True:
        answer = sfn.list_state_machines(**params)
        pages += 1
        names += [m["name"] for m in answer["stateMachines"]]
        if "nextToken" not in answer:
            break
        params["nextToken"] = answer["nextToken"]
    # The file's machine ("nightly") is listed with the others.
    assert names == ["a", "b", "c", "d", "e", "nightly"]
    assert pages == 3


def test_boto3_paginator_walks_every_machine(sfn: Any) -> None:
    for name in ("p1", "p2", "p3"):
        _create(sfn, name)
    paginator = sfn.get_paginator("list_state_machines")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 1}))
    assert [m["name"] for p in pages for m in p["stateMachines"]] == ["nightly", "p1", "p2", "p3"]


def test_a_token_that_is_not_ours_is_invalid(sfn: Any) -> None:
    for token in ("%%%", "bm90IG91cnM="):
        assert _error(sfn.list_state_machines, nextToken=token)[0] == "InvalidToken"


def test_a_page_size_over_1000_breaks_the_model(raw_sfn: Any) -> None:
    assert _error(raw_sfn.list_state_machines, maxResults=1001)[0] == "ValidationException"


# Machines of workflow files


def test_a_file_machine_is_described_and_listed(sfn: Any, workflow_file: Path) -> None:
    arn = _arn_of(sfn, "nightly")
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["definition"] == PASS
    assert described["revisionId"] == "v1"
    assert described["creationDate"].timestamp() == pytest.approx(
        workflow_file.stat().st_mtime, abs=1)


def test_a_file_machine_cannot_be_updated_or_deleted(sfn: Any, workflow_file: Path) -> None:
    arn = _arn_of(sfn, "nightly")
    for call, params in ((sfn.update_state_machine, {"definition": OTHER}),
                         (sfn.delete_state_machine, {})):  # fmt: skip
        code, message = _error(call, stateMachineArn=arn, **params)
        assert code == "ValidationException"
        assert f"managed by its file {workflow_file}" in message
    assert sfn.describe_state_machine(stateMachineArn=arn)["definition"] == PASS


def test_a_file_machine_name_cannot_be_created(sfn: Any) -> None:
    code, message = _error(sfn.create_state_machine, name="nightly", definition=PASS,
                           roleArn=ROLE)  # fmt: skip
    assert code == "StateMachineAlreadyExists"
    assert "nightly.asl.json" in message


# ValidateStateMachineDefinition


def test_a_valid_definition_validates_ok(sfn: Any) -> None:
    answer = sfn.validate_state_machine_definition(definition=PASS)
    assert (answer["result"], answer["diagnostics"], answer["truncated"]) == ("OK", [], False)


def test_an_invalid_definition_fails_with_every_diagnostic(sfn: Any) -> None:
    answer = sfn.validate_state_machine_definition(definition=BROKEN)
    assert answer["result"] == "FAIL"
    assert answer["truncated"] is False
    assert len(answer["diagnostics"]) >= 2
    for diagnostic in answer["diagnostics"]:
        assert diagnostic["severity"] == "ERROR"
        assert diagnostic["code"] == "SCHEMA_VALIDATION_FAILED"
        assert diagnostic["location"].startswith("/States/")


def test_diagnostics_past_max_results_are_truncated(sfn: Any) -> None:
    answer = sfn.validate_state_machine_definition(definition=BROKEN, maxResults=1)
    assert (len(answer["diagnostics"]), answer["truncated"]) == (1, True)


def test_validation_follows_the_machine_type(sfn: Any) -> None:
    waits = orjson.dumps({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "End": True}}}).decode()  # fmt: skip
    assert sfn.validate_state_machine_definition(definition=waits)["result"] == "OK"
    express = sfn.validate_state_machine_definition(definition=waits, type="EXPRESS")
    assert express["result"] == "FAIL"


def test_text_that_is_not_json_is_an_invalid_json_diagnostic(sfn: Any) -> None:
    answer = sfn.validate_state_machine_definition(definition="{nope")
    assert [d["code"] for d in answer["diagnostics"]] == ["INVALID_JSON_DESCRIPTION"]


# TestState


def test_test_state_runs_one_state(sfn: Any) -> None:
    state = orjson.dumps({"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.r",
                          "Next": "Then"}).decode()  # fmt: skip
    answer = sfn.test_state(definition=state, input='{"a": 2}')
    assert answer["status"] == "SUCCEEDED"
    assert orjson.loads(answer["output"]) == {"a": 2, "r": {"x": 1}}
    assert answer["nextState"] == "Then"


def test_test_state_answers_a_task_from_its_mock(sfn: Any) -> None:
    task = orjson.dumps({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                         "End": True}).decode()  # fmt: skip
    answer = sfn.test_state(definition=task, mock={"errorOutput": {"error": "E", "cause": "c"}})
    assert (answer["status"], answer["error"], answer["cause"]) == ("FAILED", "E", "c")


def test_test_state_refusals_are_aws_validation_exceptions(sfn: Any) -> None:
    task = orjson.dumps({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                         "End": True}).decode()  # fmt: skip
    assert _error(sfn.test_state, definition=task) == (
        "ValidationException", "RoleArn must be specified when testing a Task state")


def test_test_state_of_a_map_without_mock_is_invalid_definition(sfn: Any) -> None:
    machine = orjson.dumps({"Type": "Map", "ItemProcessor": {
        "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "End": True}).decode()
    assert _error(sfn.test_state, definition=machine)[0] == "InvalidDefinition"


# Activities


def test_an_activity_is_created_described_listed_and_deleted(sfn: Any) -> None:
    created = sfn.create_activity(name="resize")
    arn = created["activityArn"]
    assert arn.startswith("arn:aws:states:") and arn.endswith(":activity:resize")
    described = sfn.describe_activity(activityArn=arn)
    assert (described["name"], described["creationDate"]) == ("resize", created["creationDate"])
    assert [a["name"] for a in sfn.list_activities()["activities"]] == ["resize"]
    sfn.delete_activity(activityArn=arn)
    assert _error(sfn.describe_activity, activityArn=arn) == (
        "ActivityDoesNotExist", f"Activity Does Not Exist: '{arn}'")  # fmt: skip
    sfn.delete_activity(activityArn=arn)  # deleting again succeeds, as AWS's does


def test_creating_an_activity_again_answers_the_first(sfn: Any) -> None:
    first = sfn.create_activity(name="once")
    again = sfn.create_activity(name="once")
    assert (again["activityArn"], again["creationDate"]) == (
        first["activityArn"], first["creationDate"])


def test_an_activity_name_aws_refuses_is_invalid_name(sfn: Any) -> None:
    assert _error(sfn.create_activity, name="a b") == ("InvalidName", "Invalid Name: 'a b'")


def test_activities_are_listed_in_pages(sfn: Any) -> None:
    for name in ("w3", "w1", "w2"):
        sfn.create_activity(name=name)
    first = sfn.list_activities(maxResults=2)
    second = sfn.list_activities(maxResults=2, nextToken=first["nextToken"])
    assert [a["name"] for a in first["activities"] + second["activities"]] == ["w1", "w2", "w3"]
    assert "nextToken" not in second


def test_a_machine_arn_is_not_an_activity_arn(sfn: Any) -> None:
    arn = _create(sfn, "m")
    assert _error(sfn.describe_activity, activityArn=arn)[0] == "InvalidArn"


# The protocol


def test_a_request_signed_for_eventbridge_is_refused(gateway: RunningGateway) -> None:
    body = b"{}"
    headers = sign_request(
        "POST", gateway.url + "/",
        {"Content-Type": "application/x-amz-json-1.0",
         "X-Amz-Target": "AWSStepFunctions.ListStateMachines"},
        body, key_id=KEY_ID, secret=SECRET, region=REGION,
    )  # fmt: skip
    answer = httpx.post(gateway.url + "/", content=body, headers=headers)
    assert answer.status_code == 400
    assert answer.json() == {
        "__type": "InvalidSignatureException",
        "message": "Credential should be scoped to correct service: 'states'. ",
    }


def test_state_machines_and_activities_share_one_slot() -> None:
    from redis.crc import key_slot

    assert key_slot(keys.sfn_machines("1").encode()) == key_slot(keys.sfn_activities("1").encode())
