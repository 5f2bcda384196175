"""The bus on Redis Streams: publishing, idempotency, partitions, config, groups and retention."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import redis

from eventbus import bus, keys
from eventbus.errors import BusError

pytest_plugins = ["server_versions"]

ENTRY = {"Source": "shop", "DetailType": "OrderPlaced", "Detail": '{"id": 1}'}
STREAM = keys.bus_stream("default", 0)


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def put(client: redis.Redis, entries: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return bus.run(client, bus.publish(entries, bus.PartitionMap(), **kw))


def events_in(client: redis.Redis, stream: str = STREAM) -> list[dict[str, Any]]:
    return [orjson.loads(fields["event"]) for _, fields in client.xrange(stream)]


# --- publishing ---


def test_put_writes_event_hops_and_ingested_to_the_partition_stream(any_redis_url: str) -> None:
    client = redis.Redis.from_url(any_redis_url, decode_responses=True)
    result = put(client, [ENTRY], hops=2)
    [(_, fields)] = client.xrange(STREAM)
    assert set(fields) == {"event", "hops", "ingested"}
    assert orjson.loads(fields["event"])["id"] == result["Entries"][0]["EventId"]
    assert fields["hops"] == "2"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", fields["ingested"])
    client.close()


def test_event_has_eventbridge_field_order_and_values(r: redis.Redis) -> None:
    put(r, [ENTRY | {"Resources": ["arn:x"], "Time": "2024-05-01T10:00:00Z"}])
    [event] = events_in(r)
    assert list(event) == [
        "version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"
    ]  # fmt: skip
    assert event["detail"] == {"id": 1}
    assert event["resources"] == ["arn:x"]
    assert event["time"] == "2024-05-01T10:00:00Z"


def test_invalid_entries_fail_in_request_order_while_valid_ones_are_published(
    r: redis.Redis,
) -> None:
    result = put(r, [ENTRY, {"Source": "shop"}, ENTRY | {"Detail": "[]"}, ENTRY])
    assert result["FailedEntryCount"] == 2
    entries = result["Entries"]
    assert entries[1]["ErrorCode"] == "InvalidArgument"
    assert entries[2] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    published = [e["id"] for e in events_in(r)]
    assert published == [entries[0]["EventId"], entries[3]["EventId"]]


def test_a_batch_of_only_invalid_entries_writes_nothing(r: redis.Redis) -> None:
    result = put(r, [{"Source": "aws.s3", "DetailType": "x", "Detail": "{}"}])
    assert result["FailedEntryCount"] == 1
    assert r.keys("*") == []


def test_event_bus_name_or_arn_selects_the_bus(r: redis.Redis) -> None:
    arn = "arn:aws:events:local:000000000000:event-bus/orders"
    put(r, [ENTRY | {"EventBusName": "orders"}, ENTRY | {"EventBusName": arn}])
    assert len(events_in(r, keys.bus_stream("orders", 0))) == 2


def test_a_failed_write_is_an_internal_failure_of_that_entry_only(r: redis.Redis) -> None:
    r.set(keys.bus_stream("broken", 0), "not a stream")
    result = put(r, [ENTRY | {"EventBusName": "broken"}, ENTRY])
    assert result["Entries"][0] == {
        "ErrorCode": "InternalFailure",
        "ErrorMessage": "Internal Service Failure",
    }
    assert "EventId" in result["Entries"][1]
    assert result["FailedEntryCount"] == 1


def test_negative_hops_are_refused(r: redis.Redis) -> None:
    with pytest.raises(ValueError, match="hops"):
        put(r, [ENTRY], hops=-1)


# --- envelopes shaped by the publisher ---


def test_an_envelope_gives_the_event_its_id_and_extra_fields_after_eventbridge_ones(
    r: redis.Redis,
) -> None:
    shaped = bus.Envelope("ce-1", {"cloudevents": {"specversion": "1.0"}})
    result = put(r, [ENTRY, {"Source": "shop"}, ENTRY], envelopes=[shaped, shaped, bus.Envelope()])
    assert result["Entries"][0] == {"EventId": "ce-1"}
    assert result["Entries"][1]["ErrorCode"] == "InvalidArgument"
    first, second = events_in(r)
    assert first["id"] == "ce-1"
    assert list(first)[-2:] == ["detail", "cloudevents"]
    assert first["cloudevents"] == {"specversion": "1.0"}
    assert second["id"] == result["Entries"][2]["EventId"] != "ce-1"
    assert "cloudevents" not in second


def test_an_idempotent_entry_keeps_its_chosen_event_id_on_a_repeat(r: redis.Redis) -> None:
    keyed = ENTRY | {"IdempotencyKey": "k"}
    put(r, [keyed], envelopes=[bus.Envelope("chosen")])
    again = put(r, [keyed], envelopes=[bus.Envelope("other")])
    assert again["Entries"] == [{"EventId": "chosen"}]
    assert [e["id"] for e in events_in(r)] == ["chosen"]


def test_envelopes_must_match_the_entries_and_may_not_replace_eventbridge_fields(
    r: redis.Redis,
) -> None:
    with pytest.raises(ValueError, match="1 envelopes for 2 entries"):
        put(r, [ENTRY, ENTRY], envelopes=[bus.Envelope()])
    with pytest.raises(ValueError, match="may not replace detail, source"):
        put(r, [ENTRY], envelopes=[bus.Envelope(extra={"source": "x", "detail": {}})])
    assert r.keys("*") == []


# --- idempotency ---


def test_a_repeated_idempotency_key_is_published_once_and_answers_the_first_event_id(
    any_redis_url: str,
) -> None:
    client = redis.Redis.from_url(any_redis_url, decode_responses=True)
    keyed = ENTRY | {"IdempotencyKey": "order-1"}
    first = put(client, [keyed])["Entries"][0]["EventId"]
    again = put(client, [keyed | {"Detail": '{"id": 2}'}])
    assert again == {"FailedEntryCount": 0, "Entries": [{"EventId": first}]}
    assert [e["id"] for e in events_in(client)] == [first]
    client.close()


def test_a_key_repeated_within_one_batch_is_published_once(r: redis.Redis) -> None:
    keyed = ENTRY | {"IdempotencyKey": "k"}
    result = put(r, [keyed, keyed])
    ids = [e["EventId"] for e in result["Entries"]]
    assert ids[0] == ids[1]
    assert len(events_in(r)) == 1


def test_idempotency_is_per_bus(r: redis.Redis) -> None:
    keyed = ENTRY | {"IdempotencyKey": "k"}
    put(r, [keyed, keyed | {"EventBusName": "other"}])
    assert len(events_in(r)) == 1
    assert len(events_in(r, keys.bus_stream("other", 0))) == 1


def test_the_idempotency_record_lasts_five_minutes_in_the_partition_slot(r: redis.Redis) -> None:
    put(r, [ENTRY | {"IdempotencyKey": "k"}])
    record = keys.idempotency("default", 0, "k")
    assert 0 < r.pttl(record) <= bus.IDEMPOTENCY_WINDOW_SECONDS * 1000
    assert record.startswith("eb:{default#0}:")


def test_entries_without_a_key_are_not_deduplicated(r: redis.Redis) -> None:
    put(r, [ENTRY, ENTRY])
    assert len(events_in(r)) == 2


# --- partitions and bus config ---


def test_an_unregistered_bus_has_one_partition(r: redis.Redis) -> None:
    put(r, [ENTRY] * 3)
    assert r.xlen(STREAM) == 3


def test_entries_are_spread_over_every_configured_partition(r: redis.Redis) -> None:
    bus.run(r, bus.register_bus("default", {"partitions": 4}))
    put(r, [ENTRY] * 8)
    assert [r.xlen(s) for s in keys.bus_streams("default", 4)] == [2, 2, 2, 2]


def test_one_idempotency_key_always_goes_to_the_same_partition(r: redis.Redis) -> None:
    bus.run(r, bus.register_bus("default", {"partitions": 4}))
    for n in range(5):
        put(r, [ENTRY | {"IdempotencyKey": "same", "Detail": f'{{"n": {n}}}'}])
    lengths = [r.xlen(s) for s in keys.bus_streams("default", 4)]
    assert sorted(lengths) == [0, 0, 0, 1]


def test_bus_config_round_trips_and_none_removes_a_field(r: redis.Redis) -> None:
    bus.run(r, bus.register_bus("orders", {"partitions": 2, "max_len": 10}))
    bus.run(r, bus.register_bus("orders", {"partitions": 2, "max_len": None}))
    assert bus.run(r, bus.read_bus_config("orders")) == {"partitions": "2"}
    assert bus.run(r, bus.list_buses()) == ["orders"]


def test_config_of_an_unknown_bus_is_empty(r: redis.Redis) -> None:
    assert bus.run(r, bus.read_bus_config("nope")) == {}


# --- consumer groups ---


def test_ensure_groups_creates_stream_and_group_and_tolerates_an_existing_group(
    r: redis.Redis,
) -> None:
    streams = keys.bus_streams("default", 2)
    assert bus.run(r, bus.ensure_groups(streams)) == streams
    assert bus.run(r, bus.ensure_groups(streams)) == []
    assert [g["name"] for g in r.xinfo_groups(streams[0])] == [keys.ROUTER_GROUP]


def test_a_group_created_after_publishing_reads_what_was_published_before(r: redis.Redis) -> None:
    put(r, [ENTRY])
    bus.run(r, bus.ensure_groups([STREAM]))
    read = r.xreadgroup(keys.ROUTER_GROUP, "c", {STREAM: ">"})
    assert len(read[0][1]) == 1


def test_ensure_groups_raises_other_errors_as_bus_error(r: redis.Redis) -> None:
    r.set(STREAM, "not a stream")
    with pytest.raises(BusError):
        bus.run(r, bus.ensure_groups([STREAM]))


def test_an_unreachable_redis_is_a_bus_error() -> None:
    client = redis.Redis(port=1, socket_connect_timeout=0.2, retry=None)
    with pytest.raises(BusError) as caught:
        put(client, [ENTRY])
    assert isinstance(caught.value.__cause__, redis.ConnectionError)


def test_map_redis_errors_turns_redis_errors_into_bus_errors() -> None:
    with pytest.raises(BusError), bus.map_redis_errors():
        raise redis.ResponseError("WRONGTYPE")


def test_bus_operations_work_on_a_client_that_does_not_decode_replies(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as raw:
        bus.run(raw, bus.register_bus("default", {"max_len": 1, "dead_letter": {"stream": "d"}}))
        bus.run(raw, bus.ensure_groups([STREAM]))
        keyed = ENTRY | {"IdempotencyKey": "k"}
        result = bus.run(raw, bus.publish([keyed, keyed, ENTRY], bus.PartitionMap()))
        raw.xreadgroup(keys.ROUTER_GROUP, "c", {STREAM: ">"}, count=1)
        [report] = bus.run(raw, bus.trim("default"))
        config = bus.run(raw, bus.read_bus_config("default"))
    assert result["Entries"][0] == result["Entries"][1]
    assert (report.length, report.held_back) == (2, True)
    assert config["dead_letter"] == '{"stream":"d"}'


# --- retention ---


def configure(client: redis.Redis, **config: Any) -> None:
    bus.run(client, bus.register_bus("default", config))


def read(client: redis.Redis, count: int, group: str = keys.ROUTER_GROUP) -> list[str]:
    [(_, entries)] = client.xreadgroup(group, "c", {STREAM: ">"}, count=count)
    return [entry_id for entry_id, _ in entries]


def test_trim_without_retention_settings_does_nothing(r: redis.Redis) -> None:
    put(r, [ENTRY] * 3)
    assert bus.run(r, bus.trim("default")) == []
    assert r.xlen(STREAM) == 3


def test_max_len_removes_the_oldest_entries_once_every_group_is_done(r: redis.Redis) -> None:
    configure(r, max_len=2)
    bus.run(r, bus.ensure_groups([STREAM]))
    put(r, [ENTRY] * 5)
    r.xack(STREAM, keys.ROUTER_GROUP, *read(r, 5))
    [report] = bus.run(r, bus.trim("default"))
    assert (report.removed, report.length, report.held_back) == (3, 2, False)
    assert r.xlen(STREAM) == 2


def test_trim_never_removes_an_entry_still_pending(any_redis_url: str) -> None:
    client = redis.Redis.from_url(any_redis_url, decode_responses=True)
    configure(client, max_len=1)
    bus.run(client, bus.ensure_groups([STREAM]))
    put(client, [ENTRY] * 4)
    ids = read(client, 4)
    client.xack(STREAM, keys.ROUTER_GROUP, ids[0], ids[2], ids[3])
    [report] = bus.run(client, bus.trim("default"))
    assert [i for i, _ in client.xrange(STREAM)] == ids[1:]
    assert report.held_back and report.bound == ids[1]
    client.close()


def test_trim_never_removes_an_entry_a_group_has_not_read(r: redis.Redis) -> None:
    configure(r, max_len=1)
    bus.run(r, bus.ensure_groups([STREAM]))
    put(r, [ENTRY] * 4)
    ids = read(r, 2)
    r.xack(STREAM, keys.ROUTER_GROUP, *ids)
    [report] = bus.run(r, bus.trim("default"))
    assert (report.removed, report.length, report.held_back) == (2, 2, True)


def test_an_empty_or_finished_stream_under_max_age_is_not_reported_as_held_back(
    r: redis.Redis,
) -> None:
    configure(r, max_age_seconds=60)
    bus.run(r, bus.ensure_groups([STREAM]))
    [empty] = bus.run(r, bus.trim("default"))  # a group that has read nothing, nothing to read
    put(r, [ENTRY] * 2)
    r.xack(STREAM, keys.ROUTER_GROUP, *read(r, 2))
    later = datetime.now(UTC) + timedelta(minutes=5)
    [done] = bus.run(r, bus.trim("default", now=later))
    assert (empty.length, empty.held_back) == (0, False)
    assert (done.removed, done.length, done.held_back) == (2, 0, False)


def test_the_slowest_group_bounds_trimming(r: redis.Redis) -> None:
    configure(r, max_len=1)
    bus.run(r, bus.ensure_groups([STREAM]))
    bus.run(r, bus.ensure_groups([STREAM], group="archive"))
    put(r, [ENTRY] * 3)
    r.xack(STREAM, keys.ROUTER_GROUP, *read(r, 3))
    r.xack(STREAM, "archive", *read(r, 1, group="archive"))
    [report] = bus.run(r, bus.trim("default"))
    assert (report.removed, report.length, report.held_back) == (1, 2, True)


def test_a_stream_no_group_reads_is_trimmed_to_its_limits(r: redis.Redis) -> None:
    configure(r, max_len=2)
    put(r, [ENTRY] * 5)
    [report] = bus.run(r, bus.trim("default"))
    assert (report.removed, report.bound, report.held_back) == (3, None, False)


def test_max_age_removes_entries_older_than_the_age_once_read(r: redis.Redis) -> None:
    configure(r, max_age_seconds=60)
    bus.run(r, bus.ensure_groups([STREAM]))
    put(r, [ENTRY] * 3)
    r.xack(STREAM, keys.ROUTER_GROUP, *read(r, 3))
    assert bus.run(r, bus.trim("default"))[0].removed == 0
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert bus.run(r, bus.trim("default", now=later))[0].removed == 3


def test_trim_covers_every_partition(r: redis.Redis) -> None:
    configure(r, partitions=2, max_len=1)
    put(r, [ENTRY] * 6)
    reports = bus.run(r, bus.trim("default"))
    assert [(x.stream, x.removed) for x in reports] == [
        (keys.bus_stream("default", 0), 2),
        (keys.bus_stream("default", 1), 2),
    ]
