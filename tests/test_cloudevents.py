"""CloudEvents 1.0: the mapping onto EventBridge events, and the SDK's three HTTP modes."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from cloudevents.core.bindings.http import to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from gateway_server import (
    KEY_ID,
    REGION,
    SECRET,
    RunningGateway,
    running_gateway,
    running_router,
    wait_for_stream,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from eventbus.cloudevents import (
    BATCH_CONTENT_TYPE,
    CloudEventError,
    event_id,
    map_event,
    read_http,
)
from eventbus.sigv4 import sign_request

# ---- the mapping (pure) ----

EVENT = {
    "specversion": "1.0", "id": "a1", "source": "shop", "type": "OrderPlaced",
    "time": "2024-05-01T12:00:00Z", "subject": "order/7", "tenant": "acme", "data": {"n": 1},
}  # fmt: skip


def test_attributes_map_to_envelope_fields_and_the_rest_to_cloudevents() -> None:
    mapped = map_event(EVENT, "orders")
    assert mapped.entry == {
        "Source": "shop", "DetailType": "OrderPlaced", "Detail": '{"n":1}',
        "EventBusName": "orders", "Time": "2024-05-01T12:00:00Z",
        "IdempotencyKey": event_id("shop", "a1"),
    }  # fmt: skip
    assert mapped.event_id == event_id("shop", "a1")
    assert mapped.attributes == {
        "specversion": "1.0", "id": "a1", "time": "2024-05-01T12:00:00Z", "subject": "order/7",
        "tenant": "acme",
    }  # fmt: skip


def test_sub_second_digits_of_time_are_kept_beside_the_whole_second_envelope_time(
    gateway: RunningGateway, bus_events: Any
) -> None:
    sent = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=1)))
    event = _event(id="precise", time=sent)
    message = to_structured(event, JSONFormat())
    assert _send(gateway, message.headers, message.body).status_code == 202
    (published,) = bus_events()
    assert published["time"] == "2026-01-02T02:04:05Z"
    assert datetime.fromisoformat(published["cloudevents"]["time"]) == sent


def test_the_event_id_is_a_stable_uuid_of_source_and_id_together() -> None:
    assert event_id("shop", "a1") == event_id("shop", "a1")
    assert uuid.UUID(event_id("shop", "a1")).version == 5
    assert event_id("shop", "a1") != event_id("till", "a1")
    # A separator inside either part cannot make two pairs one.
    assert event_id("a#b", "c") != event_id("a", "b#c")


def test_data_orjson_cannot_write_is_a_malformed_detail_for_that_event() -> None:
    mapped = map_event(EVENT | {"data": _nested(300)}, "orders")
    assert mapped.error is not None
    assert (mapped.error.code, mapped.error.message) == ("MalformedDetail", "Detail is malformed.")


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"n": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("data", "detail"),
    [([1, 2], {"data": [1, 2]}), ("text", {"data": "text"}), (7, {"data": 7}),
     (None, {"data": None})],
)  # fmt: skip
def test_data_that_is_not_an_object_is_wrapped(data: Any, detail: dict[str, Any]) -> None:
    entry = map_event({**EVENT, "data": data}, "b").entry
    assert orjson.loads(entry["Detail"]) == detail


def test_no_data_is_an_empty_detail() -> None:
    event = {k: v for k, v in EVENT.items() if k != "data"}
    assert map_event(event, "b").entry["Detail"] == "{}"


def test_base64_data_is_kept_as_base64() -> None:
    event = {**{k: v for k, v in EVENT.items() if k != "data"}, "data_base64": "AAE="}
    assert orjson.loads(map_event(event, "b").entry["Detail"]) == {"data_base64": "AAE="}


@pytest.mark.parametrize("missing", ["id", "source", "type", "specversion"])
def test_a_required_attribute_missing_is_refused(missing: str) -> None:
    with pytest.raises(CloudEventError, match=missing):
        map_event({k: v for k, v in EVENT.items() if k != missing}, "b")


def test_other_spec_versions_are_refused() -> None:
    with pytest.raises(CloudEventError, match=r"0\.3"):
        map_event({**EVENT, "specversion": "0.3"}, "b")


def test_binary_mode_reads_percent_encoded_headers_and_json_body() -> None:
    headers = {"ce-specversion": "1.0", "ce-id": "x", "ce-source": "s", "ce-type": "t",
               "ce-subject": "a%20b", "content-type": "application/json"}  # fmt: skip
    (event,), batch = read_http(headers, b'{"k": 1}')
    assert not batch
    assert (event["subject"], event["data"]) == ("a b", {"k": 1})


def test_binary_bytes_that_are_not_text_become_base64() -> None:
    headers = {"ce-specversion": "1.0", "ce-id": "x", "ce-source": "s", "ce-type": "t",
               "content-type": "application/octet-stream"}  # fmt: skip
    (event,), _ = read_http(headers, b"\xff\x00")
    assert event["data_base64"] == "/wA="


@pytest.mark.parametrize(
    ("headers", "body"),
    [({"content-type": "application/json"}, b"{}"),
     ({"content-type": BATCH_CONTENT_TYPE}, b"{}"),
     ({"content-type": BATCH_CONTENT_TYPE}, b"[1]"),
     ({"content-type": "application/cloudevents+json"}, b"[]"),
     ({"content-type": "application/cloudevents+json"}, b"{nope")],
)  # fmt: skip
def test_requests_that_are_not_cloudevents_are_refused(
    headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(CloudEventError):
        read_http(headers, body)


_ATTRIBUTE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=4),
    st.sampled_from(["1.0", "0.3", "\ud800", "0001-01-01T00:00:00+01:00", "application/json"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers()),
)  # fmt: skip
_EVENTS = st.dictionaries(
    st.sampled_from(["specversion", "id", "source", "type", "time", "data", "data_base64",
                     "datacontenttype", "subject", "ext"]),
    _ATTRIBUTE_VALUES,
)  # fmt: skip
def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()  # escapes a lone surrogate, which the reader then refuses


_CONTENT_TYPES = st.sampled_from(
    ["", "application/json", "text/plain", BATCH_CONTENT_TYPE, "application/cloudevents+json"]
)


@settings(max_examples=100, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(["ce-specversion", "ce-id", "ce-source", "ce-type", "ce-time"]),
        st.sampled_from(["1.0", "x", "%ZZ", "%ed%a0%80", ""]),
    ),
    content_type=_CONTENT_TYPES,
    body=st.one_of(st.binary(max_size=12), _EVENTS.map(_dumps),
                   st.lists(_EVENTS, max_size=2).map(_dumps)),
)  # fmt: skip
def test_any_request_maps_or_raises_cloud_event_error(
    headers: dict[str, str], content_type: str, body: bytes
) -> None:
    try:
        events, _ = read_http(headers | {"content-type": content_type}, body)
        for event in events:
            map_event(event, "orders")
    except CloudEventError:
        pass


@settings(max_examples=100, deadline=None)
@given(_EVENTS)
def test_any_attributes_map_or_raise_cloud_event_error(event: dict[str, Any]) -> None:
    with contextlib.suppress(CloudEventError):
        map_event(event, "orders")


# ---- the SDK against a running gateway ----

RULES = """
bus: orders
rules:
  - name: all-orders
    event_pattern: {source: [shop]}
    targets:
      - {id: out, type: redis_stream, stream: test.ce}
"""


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, redis_server: Any
) -> Iterator[RunningGateway]:
    rules = tmp_path_factory.mktemp("ce-rules") / "orders.yaml"
    rules.write_text(RULES)
    with running_gateway(rules, redis_server.url) as running:
        yield running


@pytest.fixture
def bus_events(redis_url: str) -> Iterator[Any]:
    client = redis.Redis.from_url(redis_url)

    def read() -> list[dict[str, Any]]:
        entries = client.xrange("eb:{orders#0}:events")
        return [orjson.loads(fields[b"event"]) for _, fields in entries]

    yield read
    client.close()


def _event(**attributes: Any) -> CloudEvent:
    base = {"type": "OrderPlaced", "source": "shop", "subject": "order/7", "tenant": "acme",
            "time": datetime(2024, 5, 1, 12, 0, tzinfo=UTC)}  # fmt: skip
    return CloudEvent(attributes=base | attributes, data={"total": 5})


def _send(gateway: RunningGateway, headers: dict[str, str], body: bytes,
          bus: str = "orders") -> httpx.Response:  # fmt: skip
    url = f"{gateway.url}/cloudevents/{bus}"
    signed = sign_request("POST", url, headers, body, key_id=KEY_ID, secret=SECRET, region=REGION)
    return httpx.post(url, content=body, headers=signed)


def _check_envelope(event: dict[str, Any], ce_id: str) -> None:
    assert (event["id"], event["cloudevents"]["id"]) == (event_id("shop", ce_id), ce_id)
    assert (event["source"], event["detail-type"]) == ("shop", "OrderPlaced")
    assert (event["time"], event["detail"]) == ("2024-05-01T12:00:00Z", {"total": 5})
    assert event["cloudevents"]["subject"] == "order/7"
    assert event["cloudevents"]["tenant"] == "acme"


def test_sdk_binary_mode_lands_with_the_mapped_envelope(
    gateway: RunningGateway, bus_events: Any
) -> None:
    message = to_binary(_event(id="bin-1"), JSONFormat())
    response = _send(gateway, message.headers, message.body)
    assert (response.status_code, response.json()) == (202, {"EventId": event_id("shop", "bin-1")})
    (event,) = bus_events()
    _check_envelope(event, "bin-1")


def test_sdk_structured_mode_lands_with_the_mapped_envelope(
    gateway: RunningGateway, bus_events: Any
) -> None:
    message = to_structured(_event(id="str-1"), JSONFormat())
    response = _send(gateway, message.headers, message.body)
    assert (response.status_code, response.json()) == (202, {"EventId": event_id("shop", "str-1")})
    (event,) = bus_events()
    _check_envelope(event, "str-1")
    assert event["cloudevents"]["specversion"] == "1.0"


def test_sdk_batch_answers_the_put_events_shape(gateway: RunningGateway, bus_events: Any) -> None:
    # Given a batch of two good events and one the bus refuses (an aws. source)
    events = [_event(id="b-1"), _event(id="b-2"), _event(id="b-3", source="aws.s3")]
    body = b"[" + b",".join(JSONFormat().write(e) for e in events) + b"]"
    response = _send(gateway, {"Content-Type": BATCH_CONTENT_TYPE}, body)
    # Then the answer lists each outcome in order
    assert response.status_code == 200
    assert response.json()["FailedEntryCount"] == 1
    first, second, refused = response.json()["Entries"]
    assert (first, second) == ({"EventId": event_id("shop", "b-1")},
                               {"EventId": event_id("shop", "b-2")})  # fmt: skip
    assert refused["ErrorCode"] == "NotAuthorizedForSourceException"
    assert [e["cloudevents"]["id"] for e in bus_events()] == ["b-1", "b-2"]


def test_the_same_event_sent_twice_is_published_once(
    gateway: RunningGateway, bus_events: Any
) -> None:
    message = to_structured(_event(id="dup-1"), JSONFormat())
    for _ in range(2):
        answer = _send(gateway, message.headers, message.body).json()
        assert answer == {"EventId": event_id("shop", "dup-1")}
    assert len(bus_events()) == 1


def _batch(gateway: RunningGateway, events: list[CloudEvent]) -> dict[str, Any]:
    body = b"[" + b",".join(JSONFormat().write(e) for e in events) + b"]"
    response = _send(gateway, {"Content-Type": BATCH_CONTENT_TYPE}, body)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


def test_the_same_id_from_two_sources_is_two_events_with_two_ids(
    gateway: RunningGateway, bus_events: Any
) -> None:
    answer = _batch(gateway, [_event(id="same"), _event(id="same", source="till")])
    ids = [e["EventId"] for e in answer["Entries"]]
    assert ids == [event_id("shop", "same"), event_id("till", "same")]
    assert [(e["source"], e["id"]) for e in bus_events()] == [
        ("shop", ids[0]), ("till", ids[1])
    ]  # fmt: skip


def test_a_separator_in_source_or_id_does_not_merge_two_events(
    gateway: RunningGateway, bus_events: Any
) -> None:
    answer = _batch(gateway, [_event(source="a#b", id="c"), _event(source="a", id="b#c")])
    assert answer["FailedEntryCount"] == 0
    assert [(e["source"], e["cloudevents"]["id"]) for e in bus_events()] == [
        ("a#b", "c"), ("a", "b#c")
    ]  # fmt: skip


def test_an_event_out_of_time_range_or_too_deep_fails_alone_in_its_batch(
    gateway: RunningGateway, bus_events: Any
) -> None:
    plus_one = timezone(timedelta(hours=1))
    year_one = CloudEvent(attributes={"type": "OrderPlaced", "source": "shop", "id": "y1",
                                      "time": datetime(1, 1, 1, tzinfo=plus_one)})  # fmt: skip
    too_deep = CloudEvent(attributes={"type": "OrderPlaced", "source": "shop", "id": "deep"},
                          data=_nested(300))  # fmt: skip
    answer = _batch(gateway, [year_one, _event(id="fine"), too_deep])
    assert answer["FailedEntryCount"] == 2
    bad_time, fine, bad_data = answer["Entries"]
    assert bad_time == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter Time is not valid.",
    }
    assert bad_data == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert fine == {"EventId": event_id("shop", "fine")}
    assert [e["cloudevents"]["id"] for e in bus_events()] == ["fine"]


def test_an_extension_attribute_too_deep_to_write_fails_alone_in_its_batch(
    gateway: RunningGateway, bus_events: Any
) -> None:
    base = b'"specversion": "1.0", "type": "OrderPlaced", "source": "shop"'
    deep = b'{"a":' * 300 + b"1" + b"}" * 300  # past what orjson writes, so written by hand
    body = b'[{%s, "id": "ext-deep", "ext": %s}, {%s, "id": "ext-fine"}]' % (base, deep, base)
    response = _send(gateway, {"Content-Type": BATCH_CONTENT_TYPE}, body)
    refused, fine = response.json()["Entries"]
    assert refused["ErrorCode"] == "InvalidArgument"
    assert fine == {"EventId": event_id("shop", "ext-fine")}
    assert [e["cloudevents"]["id"] for e in bus_events()] == ["ext-fine"]


def test_a_single_event_too_deep_answers_400_malformed_detail(gateway: RunningGateway) -> None:
    message = to_structured(CloudEvent(
        attributes={"type": "OrderPlaced", "source": "shop", "id": "deep-1"}, data=_nested(300)
    ), JSONFormat())  # fmt: skip
    response = _send(gateway, message.headers, message.body)
    assert (response.status_code, response.json()["__type"]) == (400, "MalformedDetail")


def test_a_single_refused_event_answers_its_error(gateway: RunningGateway) -> None:
    message = to_structured(_event(id="x", source="aws.s3"), JSONFormat())
    response = _send(gateway, message.headers, message.body)
    assert (response.status_code, response.json()["__type"]) == (
        400,
        "NotAuthorizedForSourceException",
    )


def test_a_request_that_is_not_a_cloudevent_is_a_validation_error(gateway: RunningGateway) -> None:
    response = _send(gateway, {"Content-Type": "application/json"}, b"{}")
    assert (response.status_code, response.json()["__type"]) == (400, "ValidationException")


def test_unsigned_cloudevents_are_refused(gateway: RunningGateway) -> None:
    message = to_structured(_event(id="u"), JSONFormat())
    response = httpx.post(f"{gateway.url}/cloudevents/orders", content=message.body,
                          headers=message.headers)  # fmt: skip
    assert response.json()["__type"] == "MissingAuthenticationTokenException"


def test_the_mapping_imports_nothing_that_does_io() -> None:
    code = (
        "import eventbus.cloudevents, eventbus.sigv4, sys; "
        "print(sorted({'redis', 'httpx', 'asyncio'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_sdk_events_reach_their_target_with_the_mapped_envelope(
    gateway: RunningGateway, tmp_path: Path, redis_url: str
) -> None:
    # Given a router on the orders bus's rules
    rules = tmp_path / "orders.yaml"
    rules.write_text(RULES)
    with running_router(rules, redis_url):
        # When the SDK sends one event in binary mode and two in a batch
        message = to_binary(_event(id="e2e-1"), JSONFormat())
        assert _send(gateway, message.headers, message.body).status_code == 202
        batch = [_event(id="e2e-2"), _event(id="e2e-3")]
        body = b"[" + b",".join(JSONFormat().write(e) for e in batch) + b"]"
        assert _send(gateway, {"Content-Type": BATCH_CONTENT_TYPE}, body).status_code == 200
        # Then the target receives all three, each with the mapped envelope
        entries = wait_for_stream(redis_url, "test.ce", count=3)
    payloads = sorted((orjson.loads(fields[b"payload"]) for _, fields in entries),
                      key=lambda e: e["cloudevents"]["id"])  # fmt: skip
    assert [p["cloudevents"]["id"] for p in payloads] == ["e2e-1", "e2e-2", "e2e-3"]
    for payload in payloads:
        _check_envelope(payload, payload["cloudevents"]["id"])
