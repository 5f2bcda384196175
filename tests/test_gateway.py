"""The gateway against boto3 itself and raw HTTP: EventBridge's API, its errors, /metrics, serve."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import orjson
import pytest
import redis
from botocore.config import Config
from botocore.exceptions import ClientError
from gateway_server import (
    KEY_ID,
    REGION,
    SECRET,
    RunningGateway,
    running_gateway,
    running_router,
    wait_for_stream,
)
from redis_server import free_port
from typer.testing import CliRunner
from waiting import wait_for

from eventbus import cloudevents, keys
from eventbus.cli import app
from eventbus.config import load_rules
from eventbus.gateway import actions, rule_views
from eventbus.gateway.auth import CredentialsError
from eventbus.gateway.awsjson import ApiError
from eventbus.gateway.server import serve_in_router
from eventbus.settings import Settings, get_settings
from eventbus.sigv4 import sign_request

RULES = """
bus: default
rules:
  - name: orders-placed
    event_pattern: {source: [shop.orders], detail-type: [OrderPlaced]}
    targets:
      - {id: out, type: redis_stream, stream: test.orders}
  - name: orders-cancelled
    description: cancellations
    event_pattern: {source: [shop.orders], detail-type: [OrderCancelled]}
    targets:
      - {id: out, type: redis_stream, stream: test.cancelled, input_path: $.detail}
  - name: payments
    state: DISABLED
    event_pattern: {source: [shop.payments]}
    targets:
      - {id: out, type: redis_stream, stream: test.payments}
---
"""
SHOP_RULES = """
bus: shop
rules:
  - name: shop-orders
    event_pattern: {source: [shop.orders]}
    targets:
      - {id: out, type: redis_stream, stream: test.shop}
"""
MAX_REQUEST_BYTES = 200_000
TEST_EVENT = {
    "id": "1", "account": "123456789012", "source": "shop.orders", "time": "2024-01-01T00:00:00Z",
    "region": "us-east-1", "detail-type": "OrderPlaced", "detail": {"total": 5},
}  # fmt: skip


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("rules")
    (directory / "default.yaml").write_text(RULES.replace("---\n", ""))
    (directory / "shop.yaml").write_text(SHOP_RULES)
    return directory


@pytest.fixture(scope="module")
def gateway(rules_dir: Path, redis_server: Any) -> Iterator[RunningGateway]:
    with running_gateway(rules_dir, redis_server.url, max_request_bytes=MAX_REQUEST_BYTES) as gw:
        yield gw


@pytest.fixture
def events(gateway: RunningGateway, redis_url: str) -> Any:
    return _client(gateway.url)


@pytest.fixture
def stream_events(redis_url: str) -> Any:
    client = redis.Redis.from_url(redis_url)

    def read(bus: str = "default") -> list[dict[str, Any]]:
        entries = client.xrange(f"eb:{{{bus}#0}}:events")
        return [orjson.loads(fields[b"event"]) for _, fields in entries]

    yield read
    client.close()


def _client(url: str, key_id: str = KEY_ID, secret: str = SECRET) -> Any:
    return boto3.client(
        "events", endpoint_url=url, region_name=REGION, aws_access_key_id=key_id,
        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip


def _entry(**overrides: Any) -> dict[str, Any]:
    return {"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": '{"id": 1}'} | overrides


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


# ---- boto3 ----


def test_put_events_publishes_good_entries_and_reports_bad_ones(
    events: Any, stream_events: Any
) -> None:
    # Given one good entry and one with a malformed Detail
    result = events.put_events(Entries=[_entry(), _entry(Detail="not json")])
    # Then the good one is on the bus and the bad one is reported in its place
    assert result["FailedEntryCount"] == 1
    good, bad = result["Entries"]
    assert (bad["ErrorCode"], bad["ErrorMessage"]) == ("MalformedDetail", "Detail is malformed.")
    (event,) = stream_events()
    assert event["id"] == good["EventId"]
    assert (event["source"], event["detail-type"], event["detail"]) == (
        "shop.orders", "OrderPlaced", {"id": 1}
    )


def test_put_events_reports_missing_fields_with_eventbridge_text(events: Any) -> None:
    result = events.put_events(Entries=[{"Source": "a", "DetailType": "b", "Detail": "{}"},
                                        {"DetailType": "b", "Detail": "{}"}])  # fmt: skip
    assert result["Entries"][1] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter Source is not valid. Reason: Source is a required argument.",
    }


def test_put_events_bus_by_name_or_arn(events: Any, stream_events: Any) -> None:
    arn = "arn:aws:events:us-east-1:123456789012:event-bus/shop"
    events.put_events(Entries=[_entry(EventBusName="shop"), _entry(EventBusName=arn)])
    assert len(stream_events("shop")) == 2


def test_put_events_time_from_boto3_datetime(events: Any, stream_events: Any) -> None:
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    events.put_events(Entries=[_entry(Time=when)])
    assert stream_events()[0]["time"] == "2024-05-01T12:30:00Z"


def _deep_detail(levels: int) -> str:
    return '{"a":' * (levels - 1) + '{"n":1}' + "}" * (levels - 1)


def test_put_events_detail_nested_past_the_limit_fails_alone(
    events: Any, stream_events: Any
) -> None:
    # Given a Detail 300 levels deep (EventBridge takes 1000; the limit here is 250) among good ones
    result = events.put_events(Entries=[_entry(), _entry(Detail=_deep_detail(300)), _entry()])
    # Then only it fails, as MalformedDetail, and its batch-mates are published
    first, deep, last = result["Entries"]
    assert (deep["ErrorCode"], deep["ErrorMessage"]) == ("MalformedDetail", "Detail is malformed.")
    assert [e["id"] for e in stream_events()] == [first["EventId"], last["EventId"]]


def test_put_events_time_out_of_range_in_utc_fails_alone(
    gateway: RunningGateway, stream_events: Any
) -> None:
    # Given a Time that reads, but falls before year 1 once in UTC, next to a good entry
    body = orjson.dumps({"Entries": [_entry(Time="0001-01-01T00:00:00+01:00"), _entry()]})
    response = _post(gateway, body)
    # Then the answer is 200 with its own error, and the good entry is published
    assert response.status_code == 200
    bad, good = response.json()["Entries"]
    assert bad == {"ErrorCode": "InvalidArgument", "ErrorMessage": "Parameter Time is not valid."}
    assert [e["id"] for e in stream_events()] == [good["EventId"]]


def test_test_event_pattern_with_arrays_2000_deep_is_a_400(gateway: RunningGateway) -> None:
    pattern = '{"a":' + "[" * 2000 + "]" * 2000 + "}"
    body = orjson.dumps({"EventPattern": pattern, "Event": json.dumps(TEST_EVENT)})
    response = _post(gateway, body, target="AWSEvents.TestEventPattern")
    assert (response.status_code, response.json()["__type"]) == (
        400, "InvalidEventPatternException"
    )  # fmt: skip
    assert "deeper than 255 levels" in response.json()["message"]


def test_test_event_pattern_with_an_event_1000_deep_is_a_400(gateway: RunningGateway) -> None:
    arrays = "[" * 1000 + "1" + "]" * 1000
    event = json.dumps(TEST_EVENT | {"detail": {"a": "here"}}).replace('"here"', arrays)
    body = orjson.dumps({"EventPattern": '{"detail": {"a": [1]}}', "Event": event})
    response = _post(gateway, body, target="AWSEvents.TestEventPattern")
    assert (response.status_code, response.json()["message"]) == (
        400, "Parameter Event is not valid."
    )  # fmt: skip


def test_an_action_failing_on_its_parameters_answers_a_400_not_a_500(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an action that trips over what it was sent (as a RecursionError did before)
    async def trips(gateway: Any, params: dict[str, Any]) -> dict[str, Any]:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setitem(actions.ACTIONS, "Trips", trips)
    # Then the caller gets a 400-class AWS error, which SDKs do not resend
    with pytest.raises(ApiError) as caught:
        asyncio.run(actions.call(None, "Trips", {}))  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.code) == (400, "ValidationException")
    assert "RecursionError" in caught.value.message


def test_test_event_pattern_matching_and_not(events: Any) -> None:
    event = json.dumps(TEST_EVENT)
    match = events.test_event_pattern(EventPattern='{"source": ["shop.orders"]}', Event=event)
    miss = events.test_event_pattern(EventPattern='{"source": ["other"]}', Event=event)
    assert (match["Result"], miss["Result"]) == (True, False)


def test_test_event_pattern_invalid_pattern_gives_reason(events: Any) -> None:
    with pytest.raises(ClientError) as error:
        events.test_event_pattern(EventPattern='{"source": "a"}', Event=json.dumps(TEST_EVENT))
    assert _code(error) == "InvalidEventPatternException"
    assert error.value.response["Error"]["Message"] == (
        'Event pattern is not valid. Reason: "source" must be an object or an array'
    )


@pytest.mark.parametrize("event", ['"just text"', "[]", "{not json", '{"source": "a"}'])
def test_test_event_pattern_invalid_event(events: Any, event: str) -> None:
    with pytest.raises(ClientError) as error:
        events.test_event_pattern(EventPattern='{"source": ["a"]}', Event=event)
    assert _code(error) == "ValidationException"
    assert error.value.response["Error"]["Message"] == "Parameter Event is not valid."


def test_test_event_pattern_past_the_match_budget_is_a_validation_error(
    rules_dir: Path, redis_server: Any
) -> None:
    pattern = '{"detail": {"channel": ["web"], "total": [{"numeric": [">", 1]}]}}'
    heavy = {**TEST_EVENT, "detail": {"channel": [["web"]] * 300, "total": [[5]] * 300}}
    settings = Settings(match_budget=1000)
    gateway = running_gateway(rules_dir, redis_server.url, settings=settings)
    with gateway as gw, pytest.raises(ClientError) as error:
        _client(gw.url).test_event_pattern(EventPattern=pattern, Event=json.dumps(heavy))
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert _code(error) == "ValidationException"
    assert "1,000 steps (EVENTBUS_MATCH_BUDGET)" in error.value.response["Error"]["Message"]


def test_list_rules_of_a_bus_with_prefix(events: Any) -> None:
    names = [r["Name"] for r in events.list_rules(NamePrefix="orders-")["Rules"]]
    assert names == ["orders-cancelled", "orders-placed"]
    (shop,) = events.list_rules(EventBusName="shop")["Rules"]
    assert shop["Arn"].endswith(":rule/shop/shop-orders")
    assert json.loads(shop["EventPattern"]) == {"source": ["shop.orders"]}


def test_list_rules_pages_with_limit(events: Any) -> None:
    pages = events.get_paginator("list_rules").paginate(PaginationConfig={"PageSize": 1})
    names = [rule["Name"] for page in pages for rule in page["Rules"]]
    assert names == ["orders-cancelled", "orders-placed", "payments"]


def test_describe_rule_and_its_targets(events: Any) -> None:
    rule = events.describe_rule(Name="payments")
    assert (rule["State"], rule["EventBusName"]) == ("DISABLED", "default")
    (target,) = events.list_targets_by_rule(Rule="orders-cancelled")["Targets"]
    assert (target["Id"], target["InputPath"]) == ("out", "$.detail")


def test_describe_missing_rule_is_not_found(events: Any) -> None:
    with pytest.raises(ClientError) as error:
        events.describe_rule(Name="nope")
    assert _code(error) == "ResourceNotFoundException"
    message = error.value.response["Error"]["Message"]
    assert message == "Rule nope does not exist on EventBus default."


def test_unknown_bus_is_not_found(events: Any) -> None:
    with pytest.raises(ClientError) as error:
        events.list_rules(EventBusName="nope")
    assert _code(error) == "ResourceNotFoundException"


def test_list_rule_names_by_target_takes_the_arn_list_targets_by_rule_shows(events: Any) -> None:
    (target,) = events.list_targets_by_rule(Rule="orders-cancelled")["Targets"]
    pages = events.get_paginator("list_rule_names_by_target").paginate(
        TargetArn=target["Arn"], PaginationConfig={"PageSize": 1}
    )
    assert [name for page in pages for name in page["RuleNames"]] == ["orders-cancelled"]
    (shop_target,) = events.list_targets_by_rule(Rule="shop-orders", EventBusName="shop")["Targets"]
    names = events.list_rule_names_by_target(TargetArn=shop_target["Arn"], EventBusName="shop")
    assert names["RuleNames"] == ["shop-orders"]


def test_list_rule_names_by_target_of_another_arn_is_empty(events: Any) -> None:
    (target,) = events.list_targets_by_rule(Rule="shop-orders", EventBusName="shop")["Targets"]
    assert events.list_rule_names_by_target(TargetArn=target["Arn"])["RuleNames"] == []
    with pytest.raises(ClientError) as error:
        events.list_rule_names_by_target(TargetArn=target["Arn"], EventBusName="nope")
    assert _code(error) == "ResourceNotFoundException"


def test_list_event_buses_pages_through_the_buses_of_the_rule_files(events: Any) -> None:
    first = events.list_event_buses(Limit=1)
    second = events.list_event_buses(Limit=1, NextToken=first["NextToken"])
    names = [bus["Name"] for bus in first["EventBuses"] + second["EventBuses"]]
    assert names == ["default", "shop"]
    assert "NextToken" not in second
    (shop,) = events.list_event_buses(NamePrefix="sh")["EventBuses"]
    assert shop["Arn"].endswith(":event-bus/shop")


def test_describe_event_bus_by_name_or_arn(events: Any) -> None:
    assert events.describe_event_bus()["Name"] == "default"
    shop_arn = events.list_event_buses(NamePrefix="shop")["EventBuses"][0]["Arn"]
    assert events.describe_event_bus(Name=shop_arn) | {"ResponseMetadata": None} == {
        "Name": "shop", "Arn": shop_arn, "ResponseMetadata": None,
    }  # fmt: skip
    with pytest.raises(ClientError) as error:
        events.describe_event_bus(Name="nope")
    assert _code(error) == "ResourceNotFoundException"
    assert error.value.response["Error"]["Message"] == "Event bus nope does not exist."


def test_describe_event_bus_shows_its_dead_letter(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("bus: b\nbus_config: {dead_letter: {stream: b-dlq}}\n")
    bus = rule_views.describe_event_bus(load_rules(tmp_path), {"Name": "b"}, get_settings())
    assert bus["DeadLetterConfig"] == {"Arn": "arn:eventbus:redis_stream:b-dlq"}


def test_rules_and_buses_have_no_tags(events: Any) -> None:
    rule_arn = events.describe_rule(Name="shop-orders", EventBusName="shop")["Arn"]
    bus_arn = events.describe_event_bus(Name="shop")["Arn"]
    for arn in (rule_arn, bus_arn):
        assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == []


@pytest.mark.parametrize(
    ("resource", "message"),
    [("rule/shop/nope", "Rule nope does not exist on EventBus shop."),
     ("rule/nope", "Rule nope does not exist on EventBus default."),
     ("event-bus/nope", "Event bus nope does not exist.")],
)  # fmt: skip
def test_tags_of_an_unknown_resource_are_not_found(
    events: Any, resource: str, message: str
) -> None:
    bus_arn = events.describe_event_bus()["Arn"]
    arn = bus_arn.replace("event-bus/default", resource)
    with pytest.raises(ClientError) as error:
        events.list_tags_for_resource(ResourceARN=arn)
    assert _code(error) == "ResourceNotFoundException"
    assert error.value.response["Error"]["Message"] == message


def test_write_actions_are_disabled(events: Any) -> None:
    with pytest.raises(ClientError) as error:
        events.put_rule(Name="x", EventPattern='{"source": ["a"]}')
    assert _code(error) == "OperationDisabledException"
    assert "rule files" in error.value.response["Error"]["Message"]


def test_wrong_secret_is_refused(gateway: RunningGateway) -> None:
    with pytest.raises(ClientError) as error:
        _client(gateway.url, secret="not-the-secret").list_rules()
    assert _code(error) == "InvalidSignatureException"


def test_unknown_key_is_refused(gateway: RunningGateway) -> None:
    with pytest.raises(ClientError) as error:
        _client(gateway.url, key_id="AKIDUNKNOWN").put_events(Entries=[_entry()])
    assert _code(error) == "UnrecognizedClientException"
    assert error.value.response["Error"]["Message"] == (
        "The security token included in the request is invalid."
    )


# ---- malformed requests over raw HTTP: each gets its documented error, never a 500 ----


def _post(
    gateway: RunningGateway,
    body: bytes,
    *,
    target: str = "AWSEvents.PutEvents",
    content_type: str = "application/x-amz-json-1.1",
    sign: bool = True,
    key_id: str = KEY_ID,
    secret: str = SECRET,
    skew: timedelta | None = None,
) -> httpx.Response:
    # The skew is applied at send time: a moment computed at collection would age with the suite.
    now = datetime.now(UTC) + skew if skew is not None else None
    headers = {"Content-Type": content_type, "X-Amz-Target": target}
    url = gateway.url + "/"
    if sign:
        headers = sign_request("POST", url, headers, body, key_id=key_id, secret=secret,
                               region=REGION, now=now)  # fmt: skip
    return httpx.post(url, content=body, headers=headers)


def _entries(n: int) -> bytes:
    return orjson.dumps({"Entries": [_entry()] * n})


MALFORMED = {
    "unsigned": ({"sign": False}, _entries(1), 400, "MissingAuthenticationTokenException"),
    "unknown key": ({"key_id": "NOPE"}, _entries(1), 400, "UnrecognizedClientException"),
    "bad signature": ({"secret": "wrong"}, _entries(1), 400, "InvalidSignatureException"),
    "request 6 min old": (
        {"skew": -timedelta(minutes=6)}, _entries(1), 400,
        "InvalidSignatureException",
    ),
    "request 6 min ahead": (
        {"skew": timedelta(minutes=6)}, _entries(1), 400,
        "InvalidSignatureException",
    ),
    "unknown action": ({"target": "AWSEvents.Nope"}, b"{}", 400, "UnknownOperationException"),
    "other service": ({"target": "AmazonSQS.SendMessage"}, b"{}", 400, "UnknownOperationException"),
    "no target": ({"target": ""}, b"{}", 400, "UnknownOperationException"),
    "wrong content type": (
        {"content_type": "application/json"}, _entries(1), 400, "SerializationException",
    ),
    "body not JSON": ({}, b"{nope", 400, "SerializationException"),
    "body a JSON array": ({}, b"[]", 400, "SerializationException"),
    "Entries not a list": ({}, b'{"Entries": "x"}', 400, "SerializationException"),
    "no Entries": ({}, b"{}", 400, "ValidationException"),
    "empty Entries": ({}, b'{"Entries": []}', 400, "ValidationException"),
    "11 entries": ({}, _entries(11), 400, "ValidationException"),
    "body over the cap": ({}, b" " * (MAX_REQUEST_BYTES + 1), 413,
                          "RequestEntityTooLargeException"),
    "pattern not a string": (
        {"target": "AWSEvents.TestEventPattern"}, b'{"EventPattern": 1, "Event": "{}"}', 400,
        "SerializationException",
    ),
    "Limit 0": ({"target": "AWSEvents.ListRules"}, b'{"Limit": 0}', 400, "ValidationException"),
    "bad NextToken": (
        {"target": "AWSEvents.ListRules"}, b'{"NextToken": "!!"}', 400, "ValidationException",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_request_gets_its_documented_error(gateway: RunningGateway, case: str) -> None:
    options, body, status, code = MALFORMED[case]
    response = _post(gateway, body, **options)
    assert (response.status_code, response.json()["__type"]) == (status, code), response.text
    assert "Traceback" not in response.text


def test_eleven_entries_answer_eventbridge_text(gateway: RunningGateway) -> None:
    message = _post(gateway, _entries(11)).json()["message"]
    assert message.startswith("1 validation error detected: Value '[")
    assert message.endswith(
        "]' at 'entries' failed to satisfy constraint: "
        "Member must have length less than or equal to 10"
    )


def test_garbage_authorization_is_an_incomplete_signature(gateway: RunningGateway) -> None:
    response = httpx.post(gateway.url + "/", content=b"{}", headers={
        "Authorization": "Bearer x", "X-Amz-Target": "AWSEvents.ListRules",
        "Content-Type": "application/x-amz-json-1.1",
    })  # fmt: skip
    assert (response.status_code, response.json()["__type"]) == (
        400, "IncompleteSignatureException"
    )


# ---- paths no route serves, and the CloudEvents bus as an ARN ----


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/nope"), ("GET", "/schedules"), ("POST", "/schedules/tick"),
     ("GET", "/schedule-groups/default"), ("GET", "/"), ("POST", "/metrics")],
)  # fmt: skip
def test_unrouted_request_gets_an_aws_json_error(
    gateway: RunningGateway, method: str, path: str
) -> None:
    response = httpx.request(method, gateway.url + path)
    assert response.status_code in (404, 405)
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert response.json()["__type"] == "UnknownOperationException"
    assert f"{method} {path}" in response.json()["message"]


def test_scheduler_sdk_calls_get_unknown_operation(gateway: RunningGateway) -> None:
    scheduler = boto3.client(
        "scheduler", endpoint_url=gateway.url, region_name=REGION, aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET, config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip
    with pytest.raises(ClientError) as error:
        scheduler.list_schedules()
    assert _code(error) == "UnknownOperationException"


SHOP_ARN = f"arn:aws:events:{REGION}:123456789012:event-bus/shop"


@pytest.mark.parametrize("bus", [SHOP_ARN, SHOP_ARN.replace("/", "%2F")], ids=["raw", "encoded"])
def test_cloudevents_bus_may_be_an_event_bus_arn(
    gateway: RunningGateway, stream_events: Any, bus: str
) -> None:
    # Given a CloudEvent posted to the shop bus named by its ARN in the path
    ce_id = f"arn-{'raw' if bus == SHOP_ARN else 'encoded'}"
    headers = {"ce-specversion": "1.0", "ce-id": ce_id, "ce-source": "shop.orders",
               "ce-type": "OrderPlaced", "Content-Type": "application/json"}  # fmt: skip
    url = f"{gateway.url}/cloudevents/{bus}"
    body = b'{"total": 5}'
    signed = sign_request("POST", url, headers, body, key_id=KEY_ID, secret=SECRET, region=REGION)
    response = httpx.post(url, content=body, headers=signed)
    # Then it is accepted onto that bus
    event_id = cloudevents.event_id("shop.orders", ce_id)
    assert (response.status_code, response.json()) == (202, {"EventId": event_id})
    assert event_id in [event["id"] for event in stream_events("shop")]


def test_max_entries_option_raises_the_limit(rules_dir: Path, redis_url: str) -> None:
    with running_gateway(rules_dir, redis_url, max_entries=20) as gateway:
        result = _post(gateway, _entries(20)).json()
    assert (result["FailedEntryCount"], len(result["Entries"])) == (0, 20)


def test_no_auth_gateway_accepts_unsigned_requests(rules_dir: Path, redis_url: str) -> None:
    with running_gateway(rules_dir, redis_url, secrets={}) as gateway:
        response = _post(gateway, _entries(1), sign=False)
    assert response.json()["FailedEntryCount"] == 0


# ---- operations ----


def _scrape(gateway: RunningGateway) -> dict[str, float]:
    text = httpx.get(gateway.url + "/metrics").text
    assert "# TYPE eventbus_ingestion_to_invocation_start_latency_seconds histogram" in text
    samples = (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    return {series: float(value) for series, value in samples}


def test_metrics_count_put_events(gateway: RunningGateway, events: Any) -> None:
    # Counts of earlier tests may still be on their way to Redis: compare before and after.
    before = _scrape(gateway)
    events.put_events(Entries=[_entry(), _entry(Detail="bad")])
    after = _scrape(gateway)

    def grew(series: str) -> float:
        return after.get(series, 0) - before.get(series, 0)

    assert grew("eventbus_put_events_approximate_call_count_total") == 1
    assert grew("eventbus_put_events_entries_count_total") == 2
    assert grew("eventbus_put_events_failed_entries_count_total") == 1


def test_healthz_needs_a_live_router(gateway: RunningGateway, redis_url: str) -> None:
    # Given no router heartbeat
    assert httpx.get(gateway.url + "/healthz").status_code == 503
    # When a router reports in
    client = redis.Redis.from_url(redis_url)
    client.zadd(keys.ROUTERS, {"router-1": datetime.now(UTC).timestamp()})
    client.close()
    # Then the gateway is healthy and names it
    response = httpx.get(gateway.url + "/healthz")
    assert (response.status_code, response.json()["routers"]) == (200, ["router-1"])


# ---- eventbus serve ----


def test_serve_refuses_no_auth_on_a_public_address() -> None:
    result = CliRunner().invoke(app, ["serve", "--no-auth", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_serve_without_keys_says_how_to_set_them() -> None:
    env = {"EVENTBUS_ACCESS_KEY_ID": "", "EVENTBUS_SECRET_ACCESS_KEY": ""}
    result = CliRunner().invoke(app, ["serve"], env=env)
    assert result.exit_code == 2
    assert "EVENTBUS_ACCESS_KEY_ID" in result.output and "--credentials" in result.output


def test_serve_reports_a_bad_credentials_line_without_the_secret(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("GOODKEY:goodsecret\nno-colon-secretvalue\n")
    result = CliRunner().invoke(app, ["serve", "--credentials", str(keys)])
    assert result.exit_code == 2
    assert f"{keys}:2" in result.output and "secretvalue" not in result.output


@contextmanager
def _serving(*options: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``eventbus serve`` on a port the system picks, and its URL once it listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTBUS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "eventbus", "serve", "--port", "0", *options],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        line = ""
        while "gateway on" not in line:
            line = _stderr_line(process)
        yield process, line.split("gateway on ")[1].split()[0]
    finally:
        process.terminate()
        process.wait(20)


def _stderr_line(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    line = process.stderr.readline()
    assert line, "eventbus serve exited"
    return line


def test_serve_process_answers_with_keys_from_a_file(
    rules_dir: Path, redis_url: str, tmp_path: Path
) -> None:
    # Given `eventbus serve` with two keys in a file
    keys = tmp_path / "keys"
    keys.write_text("# two keys\nKEYONE:secret-one\nKEYTWO:secret-two\n")
    options = ("--rules", str(rules_dir), "--redis", redis_url, "--credentials", str(keys))
    with _serving(*options) as (process, url):
        # When the second key publishes
        result = _client(url, "KEYTWO", "secret-two").put_events(Entries=[_entry()])
        # Then it is accepted
        assert result["FailedEntryCount"] == 0
    assert "secret-two" not in (process.stderr.read() if process.stderr else "")


def _shop_rules(events: Any) -> list[str] | None:
    try:
        return [rule["Name"] for rule in events.list_rules(EventBusName="shop")["Rules"]]
    except ClientError:
        return None


@pytest.mark.timeout(60)
def test_serve_reloads_changed_rule_files_and_on_sighup(redis_url: str, tmp_path: Path) -> None:
    # Given `eventbus serve` over a directory with the default bus's rules only
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "default.yaml").write_text(RULES.replace("---\n", ""))
    with _serving("--rules", str(rules), "--redis", redis_url, "--no-auth") as (process, url):
        events = _client(url)
        assert _shop_rules(events) is None
        # When a rule file is added (renamed into place: never seen half written)
        (rules / "shop.part").write_text(SHOP_RULES)
        (rules / "shop.part").rename(rules / "shop.yaml")
        # Then the views answer from it without a restart
        assert wait_for(lambda: _shop_rules(events), "the new bus's rules") == ["shop-orders"]
        while "rules reloaded" not in _stderr_line(process):
            pass
        # When it gets SIGHUP with no file changed
        process.send_signal(signal.SIGHUP)
        # Then it reloads the rules and keeps serving
        while "rules reloaded" not in _stderr_line(process):
            pass
        assert process.poll() is None
        assert _shop_rules(events) == ["shop-orders"]


async def test_gateway_runs_inside_a_host_event_loop_until_cancelled(
    rules_dir: Path, redis_url: str, tmp_path: Path
) -> None:
    # Given the gateway started the way `eventbus run --http` starts it
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY_ID}:{SECRET}\n")
    port = free_port()
    started: list[Any] = []
    task = asyncio.create_task(serve_in_router(
        load_rules(rules_dir), redis_url, port=port, credentials_file=keys,
        ready=lambda gateway, bound: started.append(bound),
    ))  # fmt: skip
    # When it answers a signed request
    url = f"http://127.0.0.1:{port}/"
    body = orjson.dumps({"Entries": [_entry()]})
    headers = sign_request("POST", url, {"Content-Type": "application/x-amz-json-1.1",
                           "X-Amz-Target": "AWSEvents.PutEvents"}, body, key_id=KEY_ID,
                           secret=SECRET, region=REGION)  # fmt: skip
    async with httpx.AsyncClient() as client:
        response = await client.post(url, content=body, headers=headers)
    assert response.json()["FailedEntryCount"] == 0
    assert started == [port]
    # Then cancelling it shuts it down and closes the port
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_gateway_inside_a_router_refuses_no_auth_on_a_public_address(rules_dir: Path) -> None:
    with pytest.raises(CredentialsError, match="loopback"):
        asyncio.run(serve_in_router(load_rules(rules_dir), "redis://unused", port=0,
                                    host="0.0.0.0", no_auth=True))  # fmt: skip


@pytest.mark.slow
def test_boto3_events_reach_their_target_through_a_router(
    gateway: RunningGateway, events: Any, rules_dir: Path, redis_url: str
) -> None:
    # Given a router on the same rules
    with running_router(rules_dir, redis_url):
        # When boto3 publishes an order through the gateway
        result = events.put_events(Entries=[_entry(Detail='{"order": 7}')])
        # Then the rule's redis_stream target receives the whole event
        (entry,) = wait_for_stream(redis_url, "test.orders")
    payload = orjson.loads(entry[1][b"payload"])
    assert payload["id"] == result["Entries"][0]["EventId"]
    assert payload["detail"] == {"order": 7}


def test_entries_are_sized_by_their_text_not_their_escaped_size_on_the_wire(
    rules_dir: Path, redis_url: str
) -> None:
    # Given entries full of newlines, each under the entry limit by EventBridge's formula but
    # twice that size once JSON-escaped on the wire
    settings = Settings(max_entry_bytes=20_000)
    detail = '{"text": "x"' + "\n" * 19_000 + "}"  # newlines between tokens: valid JSON
    entries = [_entry(Detail=detail) for _ in range(10)]
    with running_gateway(rules_dir, redis_url, settings=settings) as gw:
        # When ten of them are put in one request under the default body cap
        answer = _client(gw.url).put_events(Entries=entries)
    # Then every one is published
    assert answer["FailedEntryCount"] == 0
    assert len(answer["Entries"]) == 10


def test_too_many_entries_are_refused_with_a_short_message(events: Any) -> None:
    big = _entry(Detail=orjson.dumps({"text": "x" * 15_000}).decode())
    with pytest.raises(ClientError) as error:
        events.put_events(Entries=[big] * 11)
    message = error.value.response["Error"]["Message"]
    assert _code(error) == "ValidationException"
    assert "Member must have length less than or equal to 10" in message
    assert len(message) < 400
