"""PutEvents entries and the event envelope, as EventBridge validates and builds them."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from event_strategies import ENTRIES
from hypothesis import given, settings
from hypothesis import strategies as st

from eventbus.errors import InvalidEventError
from eventbus.events import (
    EVENT_TIME_FORMAT,
    MALFORMED_DETAIL,
    MAX_DETAIL_DEPTH,
    check_test_event,
    entry_size,
    make_event,
    make_events,
    new_event_ids,
    resolve_bus_name,
    validate_entry,
)
from eventbus.settings import Settings

SETTINGS = Settings(account="123456789012", region="eu-test-1", max_entry_bytes=1000)


def entry(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": "{}"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def refusal(fields: dict[str, Any], settings: Settings = SETTINGS) -> tuple[str, str]:
    with pytest.raises(InvalidEventError) as caught:
        validate_entry(fields, settings=settings)
    return caught.value.code, caught.value.message


# --- required fields: AWS's exact codes and messages -------------------------------------------


@pytest.mark.parametrize("field", ["Source", "DetailType", "Detail"])
def test_a_missing_required_field_is_an_invalid_argument_naming_it(field: str) -> None:
    fields = entry()
    del fields[field]
    assert refusal(fields) == (
        "InvalidArgument",
        f"Parameter {field} is not valid. Reason: {field} is a required argument.",
    )


def test_an_empty_detail_type_counts_as_missing() -> None:
    assert refusal(entry(DetailType="")) == (
        "InvalidArgument",
        "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
    )


def test_source_is_checked_before_detail_type_and_detail() -> None:
    assert "Parameter Source" in refusal({})[1]


@pytest.mark.parametrize("detail", ["NotJSON", "[]", "{{}", '"NotJSON"', "1", "null"])
def test_a_detail_that_is_not_a_json_object_is_malformed(detail: str) -> None:
    assert refusal(entry(Detail=detail)) == ("MalformedDetail", "Detail is malformed.")


def test_an_aws_prefixed_source_is_not_authorized() -> None:
    code, _ = refusal(entry(Source="aws.s3"))
    assert code == "NotAuthorizedForSourceException"


def test_a_source_merely_containing_aws_is_accepted() -> None:
    assert validate_entry(entry(Source="myaws.s3"), settings=SETTINGS).source == "myaws.s3"


def test_a_detail_type_over_128_characters_is_refused() -> None:
    assert refusal(entry(DetailType="x" * 129))[0] == "InvalidArgument"
    assert validate_entry(entry(DetailType="x" * 128), settings=SETTINGS)


def test_a_non_string_source_is_an_invalid_argument() -> None:
    assert refusal(entry(Source=5))[0] == "InvalidArgument"


# --- Detail limits ----------------------------------------------------------------------------


def test_detail_nested_deeper_than_the_limit_is_malformed() -> None:
    # 300 levels: within EventBridge's 1000, past what the event could be written with.
    deep = '{"a":' * (MAX_DETAIL_DEPTH + 50) + "1" + "}" * (MAX_DETAIL_DEPTH + 50)
    assert refusal(entry(Detail=deep), Settings(max_entry_bytes=100_000)) == MALFORMED_DETAIL


def test_detail_nested_to_the_limit_is_accepted_and_its_event_serialises() -> None:
    deep = '{"a":' * (MAX_DETAIL_DEPTH - 1) + "[1]" + "}" * (MAX_DETAIL_DEPTH - 1)
    valid = validate_entry(entry(Detail=deep), settings=Settings(max_entry_bytes=100_000))
    assert orjson.loads(orjson.dumps(make_event(valid)))["detail"] == valid.detail


def test_detail_integers_outside_64_bit_signed_range_are_malformed() -> None:
    assert refusal(entry(Detail='{"n": 9223372036854775808}'))[0] == "MalformedDetail"
    assert refusal(entry(Detail='{"n": [-9223372036854775809]}'))[0] == "MalformedDetail"


def test_detail_integers_at_the_64_bit_bounds_are_accepted() -> None:
    text = '{"max": 9223372036854775807, "min": -9223372036854775808}'
    assert validate_entry(entry(Detail=text), settings=SETTINGS).detail["max"] == 2**63 - 1


# --- size -------------------------------------------------------------------------------------


def test_entry_size_follows_eventbridges_formula() -> None:
    fields = {
        "Time": "2022-01-01T00:00:00Z",  # 14 bytes whatever its length
        "Source": "src",  # 3
        "DetailType": "dé",  # 3 (UTF-8)
        "Detail": '{"a":"€"}',  # 11 (UTF-8)
        "Resources": ["ab", "cde"],  # 5
        "EventBusName": "not-counted",
        "TraceHeader": "not-counted",
    }
    assert entry_size(fields) == 14 + 3 + 3 + 11 + 5


def test_entry_size_counts_no_time_bytes_without_a_time() -> None:
    assert entry_size({"Source": "a", "DetailType": "b", "Detail": "{}"}) == 4


def test_an_entry_over_the_size_limit_fails_with_its_size_and_the_limit() -> None:
    big = entry(Detail='{"x":"' + "a" * 1000 + '"}')
    code, message = refusal(big)
    assert code == "InvalidArgument"
    assert f"{entry_size(big)} bytes" in message and "1000 bytes" in message


def test_an_entry_exactly_at_the_size_limit_is_accepted() -> None:
    padding = 1000 - entry_size(entry(Detail='{"x":""}'))
    fields = entry(Detail='{"x":"' + "a" * padding + '"}')
    assert entry_size(fields) == 1000
    assert validate_entry(fields, settings=SETTINGS)


# --- Time ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ("2022-01-01", "2022-01-01T00:00:00Z"),
        ("2024-03-10T12:30:45Z", "2024-03-10T12:30:45Z"),
        ("2024-03-10T12:30:45.987+02:00", "2024-03-10T10:30:45Z"),
        (1_700_000_000, "2023-11-14T22:13:20Z"),
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05Z"),
    ],
)
def test_time_is_accepted_in_rfc3339_date_or_epoch_form_and_written_in_utc(
    given: Any, written: str
) -> None:
    assert validate_entry(entry(Time=given), settings=SETTINGS).time == written


@pytest.mark.parametrize("given", ["yesterday", "2022-13-01", True, []])
def test_a_time_that_is_not_a_timestamp_is_an_invalid_argument(given: Any) -> None:
    code, message = refusal(entry(Time=given))
    assert code == "InvalidArgument" and message.startswith("Parameter Time is not valid.")


@pytest.mark.parametrize(
    "given",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
     datetime.min.replace(tzinfo=timezone(timedelta(hours=1)))],
)  # fmt: skip
def test_a_time_that_reads_but_is_out_of_range_in_utc_is_not_valid(given: Any) -> None:
    assert refusal(entry(Time=given)) == ("InvalidArgument", "Parameter Time is not valid.")


def test_a_time_in_the_first_millennium_is_written_with_four_digit_years() -> None:
    assert validate_entry(entry(Time="0001-01-01T00:30:00+00:00")).time == "0001-01-01T00:30:00Z"


# --- text that has no UTF-8 form -----------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [{"Source": "shop\ud800"}, {"DetailType": "\udc00"}, {"Resources": ["arn:\ud800"]},
     {"TraceHeader": "\ud800"}, {"IdempotencyKey": "k\ud800"}],
)  # fmt: skip
def test_a_lone_surrogate_in_a_text_field_is_an_invalid_argument_naming_it(
    fields: dict[str, Any],
) -> None:
    (field,) = fields
    code, message = refusal(entry(**fields))
    assert code == "InvalidArgument" and message.startswith(f"Parameter {field} is not valid.")


# --- any entry: a per-entry answer, never another exception --------------------------------

@settings(max_examples=200, deadline=None)
@given(ENTRIES)
def test_any_entry_is_accepted_with_a_serialisable_event_or_refused_with_a_code(
    fields: dict[str, Any],
) -> None:
    try:
        valid = validate_entry(fields, settings=Settings(max_entry_bytes=100_000))
    except InvalidEventError as e:
        assert e.code and e.message
        return
    orjson.dumps(make_event(valid))


# --- bus names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "bus"),
    [
        ("default", "default"),
        ("orders.v2_eu-1", "orders.v2_eu-1"),
        ("arn:aws:events:eu-west-1:123456789012:event-bus/orders", "orders"),
        ("arn:aws:events:local:000000000000:event-bus/orders", "orders"),
    ],
)
def test_event_bus_name_is_a_name_or_an_arn(given: str, bus: str) -> None:
    assert resolve_bus_name(given) == bus
    assert validate_entry(entry(EventBusName=given), settings=SETTINGS).bus == bus


@pytest.mark.parametrize(
    "given", ["", "a/b", "with space", "arn:aws:events:eu-west-1:1234:event-bus/x", "x" * 1601]
)
def test_an_invalid_event_bus_name_is_an_invalid_argument(given: str) -> None:
    code, message = refusal(entry(EventBusName=given))
    assert code == "InvalidArgument" and "EventBusName" in message


def test_the_bus_defaults_to_default() -> None:
    assert validate_entry(entry(), settings=SETTINGS).bus == "default"


# --- optional fields ----------------------------------------------------------------------------


def test_resources_must_be_a_list_of_strings() -> None:
    assert refusal(entry(Resources="arn:x"))[0] == "InvalidArgument"
    assert refusal(entry(Resources=["arn:x", 5]))[0] == "InvalidArgument"
    assert validate_entry(entry(Resources=["arn:x"]), settings=SETTINGS).resources == ("arn:x",)


@pytest.mark.parametrize(("field", "limit"), [("TraceHeader", 500), ("IdempotencyKey", 256)])
def test_optional_text_fields_hold_1_to_limit_characters(field: str, limit: int) -> None:
    assert refusal(entry(**{field: ""}))[0] == "InvalidArgument"
    assert refusal(entry(**{field: "k" * (limit + 1)}))[0] == "InvalidArgument"
    assert refusal(entry(**{field: 7}))[0] == "InvalidArgument"
    valid = validate_entry(entry(**{field: "k" * limit}), settings=SETTINGS)
    assert (valid.trace_header, valid.idempotency_key)[field == "IdempotencyKey"] == "k" * limit


# --- the envelope ----------------------------------------------------------------------------


def test_make_event_builds_the_envelope_in_eventbridges_field_order() -> None:
    valid = validate_entry(
        entry(Detail='{"total": 120}', Resources=["arn:r"], Time="2022-01-01"), settings=SETTINGS
    )
    event = make_event(valid, event_id="e-1", settings=SETTINGS)
    assert list(event) == [
        "version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"
    ]  # fmt: skip
    assert event == {
        "version": "0",
        "id": "e-1",
        "detail-type": "OrderPlaced",
        "source": "shop.orders",
        "account": "123456789012",
        "time": "2022-01-01T00:00:00Z",
        "region": "eu-test-1",
        "resources": ["arn:r"],
        "detail": {"total": 120},
    }


def test_make_event_defaults_time_to_now_and_id_to_a_new_uuid() -> None:
    valid = validate_entry(entry(), settings=SETTINGS)
    now = datetime(2025, 6, 1, 8, 0, 59, 999_000, tzinfo=UTC)
    first = make_event(valid, now=now, settings=SETTINGS)
    second = make_event(valid, now=now, settings=SETTINGS)
    assert first["time"] == now.strftime(EVENT_TIME_FORMAT) == "2025-06-01T08:00:59Z"
    assert first["id"] != second["id"] and len(first["id"]) == 36


@given(st.integers(min_value=0, max_value=50))
def test_new_event_ids_are_distinct_random_uuids(count: int) -> None:
    ids = new_event_ids(count)
    assert len(set(ids)) == count
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_make_events_keeps_given_ids_and_draws_the_others() -> None:
    valid = validate_entry(entry(), settings=SETTINGS)
    events = make_events([valid, valid, valid], event_ids=["e-1", None, None], settings=SETTINGS)
    assert events[0]["id"] == "e-1"
    assert uuid.UUID(events[1]["id"]).version == 4 and events[1]["id"] != events[2]["id"]
    assert len({e["time"] for e in events}) == 1


def test_check_test_event_requires_testeventpatterns_fields() -> None:
    event = {f: "x" for f in ("id", "account", "source", "time", "region", "detail-type")}
    assert check_test_event(event) is event
    with pytest.raises(InvalidEventError, match=r"Parameter Event is not valid\."):
        check_test_event({"id": "x"})
    with pytest.raises(InvalidEventError, match=r"Parameter Event is not valid\."):
        check_test_event([event])


def test_check_test_event_refuses_an_event_deeper_than_any_putevents_makes() -> None:
    event: dict[str, Any] = {f: "x" for f in ("id", "account", "source", "time", "region",
                                              "detail-type")}  # fmt: skip
    nested: Any = 1
    for _ in range(MAX_DETAIL_DEPTH + 1):
        nested = [nested]
    with pytest.raises(InvalidEventError, match=r"Parameter Event is not valid\."):
        check_test_event(event | {"detail": {"a": nested}})


def test_importing_events_loads_no_io_library() -> None:
    code = (
        "import sys, eventbus.events; "
        "print(sorted(m for m in ('redis', 'asyncio', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
