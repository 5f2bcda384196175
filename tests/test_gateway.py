"""The gateway against boto3 itself and raw HTTP: EventBridge's API, its errors, /metrics, serve."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
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

from eventbus import keys
from eventbus.cli import app
from eventbus.config import load_rules
from eventbus.gateway.auth import CredentialsError
from eventbus.gateway.server import serve_in_router
from eventbus.settings import Settings
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
    assert "# TYPE eventbus_IngestionToInvocationStartLatency histogram" in text
    samples = (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    return {series: float(value) for series, value in samples}


def test_metrics_count_put_events(gateway: RunningGateway, events: Any) -> None:
    # Counts of earlier tests may still be on their way to Redis: compare before and after.
    before = _scrape(gateway)
    events.put_events(Entries=[_entry(), _entry(Detail="bad")])
    after = _scrape(gateway)

    def grew(series: str) -> float:
        return after.get(series, 0) - before.get(series, 0)

    assert grew("eventbus_PutEventsApproximateCallCount_total") == 1
    assert grew("eventbus_PutEventsEntriesCount_total") == 2
    assert grew("eventbus_PutEventsFailedEntriesCount_total") == 1


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


def test_serve_process_answers_with_keys_from_a_file(
    rules_dir: Path, redis_url: str, tmp_path: Path
) -> None:
    # Given `eventbus serve` on a port the system picks, with two keys in a file
    keys = tmp_path / "keys"
    keys.write_text("# two keys\nKEYONE:secret-one\nKEYTWO:secret-two\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTBUS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "eventbus", "serve", "--rules", str(rules_dir), "--redis",
         redis_url, "--port", "0", "--credentials", str(keys)],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = ""
        while "gateway on" not in line:
            line = process.stderr.readline()
            assert line, "eventbus serve exited before listening"
        url = line.split("gateway on ")[1].split()[0]
        # When the second key publishes
        result = _client(url, "KEYTWO", "secret-two").put_events(Entries=[_entry()])
        # Then it is accepted
        assert result["FailedEntryCount"] == 0
    finally:
        process.terminate()
        process.wait(20)
    assert "secret-two" not in (process.stderr.read() if process.stderr else "")


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
