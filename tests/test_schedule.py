"""Schedule expressions, checked against firings worked out by hand from EventBridge's docs.

Every expected time below was computed from the documented meaning of the fields and a printed
calendar (weekdays, month lengths, the 2027 DST dates of Europe/Berlin and America/New_York), not
by running a cron library.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventbus.errors import InvalidScheduleError
from eventbus.schedule import parse_schedule
from eventbus.schedule.firing import firings_between
from eventbus.schedule.zones import EARLIEST, HORIZON

END = "END"  # the schedule has no firing after the ones listed

# (expression, time zone, strictly after, expected firings in the zone[, END])
FIRINGS: dict[str, tuple[str, str, str, list[str]]] = {
    # EventBridge's documented examples (UTC).
    "10am every day": (
        "cron(0 10 * * ? *)", "UTC", "2026-11-24T10:00:00+00:00",
        ["2026-11-25T10:00:00+00:00", "2026-11-26T10:00:00+00:00"],
    ),
    "12:15 every day, from just before": (
        "cron(15 12 * * ? *)", "UTC", "2026-11-24T12:14:59+00:00",
        ["2026-11-24T12:15:00+00:00", "2026-11-25T12:15:00+00:00"],
    ),
    "6pm Monday to Friday skips the weekend": (
        "cron(0 18 ? * MON-FRI *)", "UTC", "2026-11-27T18:00:00+00:00",
        ["2026-11-30T18:00:00+00:00", "2026-12-01T18:00:00+00:00"],
    ),
    "8am on the first of each month": (
        "cron(0 8 1 * ? *)", "UTC", "2026-11-24T00:00:00+00:00",
        ["2026-12-01T08:00:00+00:00", "2027-01-01T08:00:00+00:00"],
    ),
    "every 15 minutes": (
        "cron(0/15 * * * ? *)", "UTC", "2026-11-24T10:07:00+00:00",
        ["2026-11-24T10:15:00+00:00", "2026-11-24T10:30:00+00:00", "2026-11-24T10:45:00+00:00",
         "2026-11-24T11:00:00+00:00"],
    ),
    "every 10 minutes on weekdays, over a weekend": (
        "cron(0/10 * ? * MON-FRI *)", "UTC", "2026-11-27T23:55:00+00:00",
        ["2026-11-30T00:00:00+00:00", "2026-11-30T00:10:00+00:00"],
    ),
    "every 5 minutes from 8 to 17:55 on weekdays": (
        "cron(0/5 8-17 ? * MON-FRI *)", "UTC", "2026-11-30T17:50:00+00:00",
        ["2026-11-30T17:55:00+00:00", "2026-12-01T08:00:00+00:00"],
    ),
    "5,35 past 14": (
        "cron(5,35 14 * * ? *)", "UTC", "2026-11-24T14:05:00+00:00",
        ["2026-11-24T14:35:00+00:00", "2026-11-25T14:05:00+00:00"],
    ),
    "2am on Saturdays": (
        "cron(0 2 ? * SAT *)", "UTC", "2026-11-24T00:00:00+00:00",
        ["2026-11-28T02:00:00+00:00", "2026-12-05T02:00:00+00:00"],
    ),
    "last Friday of each month in 2022-2023 then never": (
        "cron(15 10 ? * 6L 2022-2023)", "UTC", "2023-11-01T00:00:00+00:00",
        ["2023-11-24T10:15:00+00:00", "2023-12-29T10:15:00+00:00", END],
    ),
    "every minute of the third Saturday": (
        "cron(* * ? * SAT#3 *)", "UTC", "2026-11-21T23:58:00+00:00",
        ["2026-11-21T23:59:00+00:00", "2026-12-19T00:00:00+00:00", "2026-12-19T00:01:00+00:00"],
    ),
    "every 5 minutes at 5am Sunday to Thursday in January 2022": (
        "cron(0/5 5 ? JAN 1-5 2022)", "UTC", "2022-01-01T00:00:00+00:00",
        ["2022-01-02T05:00:00+00:00", "2022-01-02T05:05:00+00:00"],
    ),
    "January 2022 schedule ends on the 31st": (
        "cron(0/5 5 ? JAN 1-5 2022)", "UTC", "2022-01-31T05:50:00+00:00",
        ["2022-01-31T05:55:00+00:00", END],
    ),
    # Wrapped ranges.
    "hours 20-2 wrap past midnight, each day judged alone": (
        "cron(0/30 20-2 ? * MON-FRI *)", "UTC", "2026-11-27T23:00:00+00:00",
        ["2026-11-27T23:30:00+00:00", "2026-11-30T00:00:00+00:00", "2026-11-30T00:30:00+00:00",
         "2026-11-30T01:00:00+00:00", "2026-11-30T01:30:00+00:00", "2026-11-30T02:00:00+00:00",
         "2026-11-30T02:30:00+00:00", "2026-11-30T20:00:00+00:00"],
    ),
    "minutes 50-10/10 wrap": (
        "cron(50-10/10 9 * * ? *)", "UTC", "2026-11-24T09:00:00+00:00",
        ["2026-11-24T09:10:00+00:00", "2026-11-24T09:50:00+00:00", "2026-11-25T09:00:00+00:00"],
    ),
    "weekdays FRI-MON wrap": (
        "cron(0 9 ? * FRI-MON *)", "UTC", "2026-11-24T00:00:00+00:00",
        ["2026-11-27T09:00:00+00:00", "2026-11-28T09:00:00+00:00", "2026-11-29T09:00:00+00:00",
         "2026-11-30T09:00:00+00:00", "2026-12-04T09:00:00+00:00"],
    ),
    "months NOV-FEB wrap": (
        "cron(0 0 1 NOV-FEB ? *)", "UTC", "2026-12-15T00:00:00+00:00",
        ["2027-01-01T00:00:00+00:00", "2027-02-01T00:00:00+00:00", "2027-11-01T00:00:00+00:00"],
    ),
    # Day-of-week numbering: 1 = Sunday ... 7 = Saturday.
    "day-of-week 1 is Sunday": (
        "cron(0 9 ? * 1 *)", "UTC", "2026-11-24T00:00:00+00:00", ["2026-11-29T09:00:00+00:00"],
    ),
    "day-of-week 7 is Saturday": (
        "cron(0 9 ? * 7 *)", "UTC", "2026-11-24T00:00:00+00:00", ["2026-11-28T09:00:00+00:00"],
    ),
    "day-of-week 2-6 is Monday to Friday": (
        "cron(0 9 ? * 2-6 *)", "UTC", "2026-11-27T10:00:00+00:00",
        ["2026-11-30T09:00:00+00:00", "2026-12-01T09:00:00+00:00"],
    ),
    "day-of-week names are case-insensitive": (
        "cron(0 9 ? * sun *)", "UTC", "2026-11-24T00:00:00+00:00", ["2026-11-29T09:00:00+00:00"],
    ),
    # L, W and #.
    "L is the last day of each month": (
        "cron(0 12 L * ? *)", "UTC", "2027-01-31T12:00:00+00:00",
        ["2027-02-28T12:00:00+00:00", "2027-03-31T12:00:00+00:00", "2027-04-30T12:00:00+00:00"],
    ),
    "L in a leap February": (
        "cron(0 12 L * ? *)", "UTC", "2028-01-31T12:00:00+00:00", ["2028-02-29T12:00:00+00:00"],
    ),
    "15W moves a Sunday to Monday and a Saturday to Friday": (
        "cron(0 12 15W * ? *)", "UTC", "2027-03-01T00:00:00+00:00",
        ["2027-03-15T12:00:00+00:00", "2027-04-15T12:00:00+00:00", "2027-05-14T12:00:00+00:00",
         "2027-06-15T12:00:00+00:00"],
    ),
    "15W on a Sunday the 15th": (
        "cron(0 12 15W * ? *)", "UTC", "2026-11-01T00:00:00+00:00",
        ["2026-11-16T12:00:00+00:00", "2026-12-15T12:00:00+00:00"],
    ),
    "1W on Saturday the 1st moves forward to Monday the 3rd, not into April": (
        "cron(0 9 1W * ? *)", "UTC", "2027-04-02T00:00:00+00:00",
        ["2027-05-03T09:00:00+00:00", "2027-06-01T09:00:00+00:00"],
    ),
    "31W on Sunday the 31st moves back to Friday, months without a 31st are skipped": (
        "cron(0 9 31W * ? *)", "UTC", "2027-10-01T00:00:00+00:00",
        ["2027-10-29T09:00:00+00:00", "2027-12-31T09:00:00+00:00", "2028-01-31T09:00:00+00:00"],
    ),
    "LW is the last weekday of the month": (
        "cron(0 9 LW * ? *)", "UTC", "2027-01-01T00:00:00+00:00",
        ["2027-01-29T09:00:00+00:00", "2027-02-26T09:00:00+00:00", "2027-03-31T09:00:00+00:00"],
    ),
    "2#1 is the first Monday": (
        "cron(0 9 ? * 2#1 *)", "UTC", "2027-01-01T00:00:00+00:00",
        ["2027-01-04T09:00:00+00:00", "2027-02-01T09:00:00+00:00", "2027-03-01T09:00:00+00:00",
         "2027-04-05T09:00:00+00:00"],
    ),
    "FRI#5 only in months with five Fridays": (
        "cron(0 9 ? * FRI#5 *)", "UTC", "2027-01-01T00:00:00+00:00",
        ["2027-01-29T09:00:00+00:00", "2027-04-30T09:00:00+00:00", "2027-07-30T09:00:00+00:00"],
    ),
    "6L is the last Friday": (
        "cron(0 9 ? * 6L *)", "UTC", "2027-01-01T00:00:00+00:00",
        ["2027-01-29T09:00:00+00:00", "2027-02-26T09:00:00+00:00", "2027-03-26T09:00:00+00:00"],
    ),
    "1L is the last Sunday": (
        "cron(0 9 ? * 1L *)", "UTC", "2027-01-01T00:00:00+00:00",
        ["2027-01-31T09:00:00+00:00", "2027-02-28T09:00:00+00:00", "2027-03-28T09:00:00+00:00"],
    ),
    # The year field and sparse schedules.
    "February 29 waits for the next leap year": (
        "cron(0 0 29 2 ? *)", "UTC", "2026-01-01T00:00:00+00:00",
        ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"],
    ),
    "a single far year": (
        "cron(30 6 1 JAN ? 2150)", "UTC", "2026-01-01T00:00:00+00:00",
        ["2150-01-01T06:30:00+00:00", END],
    ),
    "year increments": (
        "cron(0 0 1 1 ? 2030/10)", "UTC", "2026-01-01T00:00:00+00:00",
        ["2030-01-01T00:00:00+00:00", "2040-01-01T00:00:00+00:00", "2050-01-01T00:00:00+00:00"],
    ),
    "a year in the past never fires": (
        "cron(0 0 1 1 ? 2020)", "UTC", "2026-01-01T00:00:00+00:00", [END],
    ),
    "nothing after 2199": (
        "cron(0 0 31 12 ? *)", "UTC", "2199-12-30T00:00:00+00:00",
        ["2199-12-31T00:00:00+00:00", END],
    ),
    "February 30 never fires": ("cron(0 0 30 FEB ? *)", "UTC", "2026-01-01T00:00:00+00:00", [END]),
    # DST in Europe/Berlin 2027: 02:00 -> 03:00 on March 28, 03:00 -> 02:00 on October 31.
    "Berlin: 02:30 does not exist on March 28 and is skipped": (
        "cron(30 2 * * ? *)", "Europe/Berlin", "2027-03-27T00:00:00+01:00",
        ["2027-03-27T02:30:00+01:00", "2027-03-29T02:30:00+02:00"],
    ),
    "Berlin: 03:00 after the gap fires with the summer offset": (
        "cron(0 3 * * ? *)", "Europe/Berlin", "2027-03-27T12:00:00+01:00",
        ["2027-03-28T03:00:00+02:00", "2027-03-29T03:00:00+02:00"],
    ),
    "Berlin: every 30 minutes jumps over the missing hour": (
        "cron(0/30 * * * ? *)", "Europe/Berlin", "2027-03-28T01:15:00+01:00",
        ["2027-03-28T01:30:00+01:00", "2027-03-28T03:00:00+02:00"],
    ),
    "Berlin: 02:30 happens twice on October 31 and fires once": (
        "cron(30 2 * * ? *)", "Europe/Berlin", "2027-10-30T12:00:00+02:00",
        ["2027-10-31T02:30:00+02:00", "2027-11-01T02:30:00+01:00"],
    ),
    "Berlin: every 30 minutes fires the repeated hour once": (
        "cron(0/30 * * * ? *)", "Europe/Berlin", "2027-10-31T01:45:00+02:00",
        ["2027-10-31T02:00:00+02:00", "2027-10-31T02:30:00+02:00", "2027-10-31T03:00:00+01:00"],
    ),
    # DST in America/New_York 2027: 02:00 -> 03:00 on March 14, 02:00 -> 01:00 on November 7.
    "New York: Sunday 02:30 is skipped on March 14": (
        "cron(30 2 ? * SUN *)", "America/New_York", "2027-03-07T03:00:00-05:00",
        ["2027-03-21T02:30:00-04:00"],
    ),
    "New York: 01:30 happens twice on November 7 and fires once": (
        "cron(30 1 * * ? *)", "America/New_York", "2027-11-06T12:00:00-04:00",
        ["2027-11-07T01:30:00-04:00", "2027-11-08T01:30:00-05:00"],
    ),
    "New York: no second firing from inside the repeated hour": (
        "cron(45 1 * * ? *)", "America/New_York", "2027-11-07T01:10:00-05:00",
        ["2027-11-08T01:45:00-05:00"],
    ),
    # rate(): start + k × interval, from 1970-01-01T00:00:00Z without a start date.
    "rate in minutes": (
        "rate(5 minutes)", "UTC", "2026-11-24T10:02:30+00:00",
        ["2026-11-24T10:05:00+00:00", "2026-11-24T10:10:00+00:00"],
    ),
    "rate is strictly after": (
        "rate(1 hour)", "UTC", "2026-11-24T10:00:00+00:00", ["2026-11-24T11:00:00+00:00"],
    ),
    "rate(7 days) from the epoch fires on Thursdays": (
        "rate(7 days)", "UTC", "2026-11-24T00:00:00+00:00",
        ["2026-11-26T00:00:00+00:00", "2026-12-03T00:00:00+00:00"],
    ),
    "rate is shown in the schedule's zone": (
        "rate(1 day)", "Asia/Tokyo", "2026-11-24T00:00:00+00:00", ["2026-11-25T09:00:00+09:00"],
    ),
    # at(): once, in the schedule's zone.
    "at in New York": (
        "at(2027-01-01T09:00:00)", "America/New_York", "2026-11-24T00:00:00+00:00",
        ["2027-01-01T09:00:00-05:00", END],
    ),
    "at fires once, at the first of two repeated times": (
        "at(2027-10-31T02:30:00)", "Europe/Berlin", "2027-10-01T00:00:00+00:00",
        ["2027-10-31T02:30:00+02:00", END],
    ),
    "at a time inside a DST gap never fires": (
        "at(2027-03-28T02:30:00)", "Europe/Berlin", "2027-03-01T00:00:00+00:00", [END],
    ),
    "at in the past is accepted and never fires": (
        "at(2022-12-31T23:59:59)", "UTC", "2026-01-01T00:00:00+00:00", [END],
    ),
}


@pytest.mark.parametrize("case", FIRINGS.values(), ids=FIRINGS.keys())
def test_firings_follow_eventbridge_semantics(case: tuple[str, str, str, list[str]]) -> None:
    expression, zone, after, expected = case
    ends = bool(expected) and expected[-1] == END
    want = expected[:-1] if ends else expected
    schedule = parse_schedule(expression, zone)
    got = schedule.upcoming(datetime.fromisoformat(after), len(want) + int(ends))
    assert [t.isoformat() for t in got] == want


def test_next_after_is_the_first_firing_strictly_after() -> None:
    schedule = parse_schedule("cron(0 10 * * ? *)")
    first = schedule.next_after(datetime(2026, 11, 24, 9, 59, 59, tzinfo=UTC))
    assert first == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert schedule.next_after(first) == datetime(2026, 11, 25, 10, tzinfo=UTC)


def test_a_moment_in_another_zone_means_the_same_instant() -> None:
    schedule = parse_schedule("cron(0 10 * * ? *)", "Europe/Berlin")
    moment = datetime.fromisoformat("2026-11-24T08:59:00+00:00")  # 09:59 in Berlin
    got = schedule.next_after(moment)
    assert got is not None and got.isoformat() == "2026-11-24T10:00:00+01:00"


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_schedule("rate(5 minutes)").next_after(datetime(2026, 1, 1))


def test_the_schedule_exposes_its_expression_zone_and_kind() -> None:
    kinds = {
        "cron(0 10 * * ? *)": "cron",
        "rate(5 minutes)": "rate",
        "at(2027-01-01T00:00:00)": "at",
    }
    for expression, kind in kinds.items():
        schedule = parse_schedule(expression, "Europe/Paris")
        assert (schedule.expression, schedule.timezone, schedule.kind) == (
            expression, "Europe/Paris", kind,
        )


# Start and end dates: inclusive bounds.

def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_a_rate_counts_from_its_start_date_and_fires_at_it() -> None:
    schedule = parse_schedule("rate(10 minutes)", start=utc("2026-11-24T10:03:00+00:00"))
    got = schedule.upcoming(utc("2026-11-24T00:00:00+00:00"), 2)
    assert got == [utc("2026-11-24T10:03:00+00:00"), utc("2026-11-24T10:13:00+00:00")]


def test_a_rate_is_an_absolute_duration_across_a_dst_change() -> None:
    start = datetime.fromisoformat("2027-03-27T12:00:00+01:00")
    schedule = parse_schedule("rate(1 day)", "Europe/Berlin", start=start)
    got = schedule.next_after(start)
    assert got is not None and got.isoformat() == "2027-03-28T13:00:00+02:00"


def test_the_end_date_is_inclusive_and_then_nothing_fires() -> None:
    schedule = parse_schedule(
        "rate(1 hour)", start=utc("2026-11-24T10:00:00Z"), end=utc("2026-11-24T12:00:00Z")
    )
    got = schedule.upcoming(utc("2026-11-24T00:00:00Z"), 5)
    assert got == [utc(f"2026-11-24T{h}:00:00Z") for h in (10, 11, 12)]


def test_a_cron_fires_on_its_start_date_but_not_before() -> None:
    schedule = parse_schedule("cron(0 12 * * ? *)", start=utc("2026-11-24T12:00:00Z"))
    assert schedule.next_after(utc("2026-11-01T00:00:00Z")) == utc("2026-11-24T12:00:00Z")


def test_at_ignores_start_and_end_dates() -> None:
    schedule = parse_schedule(
        "at(2027-01-01T00:00:00)",
        start=utc("2028-01-01T00:00:00Z"),
        end=utc("2028-02-01T00:00:00Z"),
    )
    assert schedule.next_after(utc("2026-01-01T00:00:00Z")) == utc("2027-01-01T00:00:00Z")


def test_bounds_need_an_offset_and_the_end_cannot_precede_the_start() -> None:
    with pytest.raises(InvalidScheduleError) as naive:
        parse_schedule("rate(1 hour)", start=datetime(2026, 1, 1))
    assert naive.value.field == "start_date"
    with pytest.raises(InvalidScheduleError) as reversed_bounds:
        parse_schedule(
            "rate(1 hour)", start=utc("2026-02-01T00:00:00Z"), end=utc("2026-01-01T00:00:00Z")
        )
    assert reversed_bounds.value.field == "end_date"


# Accepted and refused expressions.

ACCEPTED = [
    "cron(0 2 ? * SAT *)", "cron(0 12 * * ? *)", "cron(15 10 ? * 6L 2002-2005)",
    "cron(* * ? * SAT#3 *)", "cron(0/5 5 ? JAN 1-5 2022)", "cron(0/30 20-23 ? * MON-FRI *)",
    "cron(0-15/1 8-8 ? * 2,3,4,5,6,7 *)", "cron(1-31/30 1-1 ? * 1,7 *)",
    "cron(0-59/10 0-23/2 ? * * *)", "cron(*/15 * * * ? *)", "cron(0 0 L-2 * ? *)",
    "cron(0 0 ? * FRIL *)", "cron(0 0 ? * L *)", "cron(0 0 LW * ? *)",
    "rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(2 hours)", "rate(1 day)",
    "rate(3 days)", "at(2022-12-31T23:59:59)",
]


@pytest.mark.parametrize("expression", ACCEPTED)
def test_documented_and_verified_expressions_are_accepted(expression: str) -> None:
    assert parse_schedule(expression).expression == expression


# (expression, field named in the error, a fragment of the reason)
REFUSED: dict[str, tuple[str, str]] = {
    "cron(0 1 * * * *)": ("cron.day-of-week", "one of the two must be ?"),
    "cron(0 1 ? * ? *)": ("cron.day-of-week", "one of the two must be ?"),
    "cron(0 1 5 * MON *)": ("cron.day-of-week", "one of the two must be ?"),
    "cron(71 8 1 * ? *)": ("cron.minutes", "0-59"),
    "cron(0 24 * * ? *)": ("cron.hours", "0-23"),
    "cron(0 ? * * ? *)": ("cron.hours", "0-23"),
    "cron(0 dummy ? * MON-FRI *)": ("cron.hours", "0-23"),
    "cron(0 0 32 * ? *)": ("cron.day-of-month", "1-31"),
    "cron(0 0 1 13 ? *)": ("cron.month", "1-12 or JAN-DEC"),
    "cron(0 0 1 FOO ? *)": ("cron.month", "1-12 or JAN-DEC"),
    "cron(0 0 ? * 8 *)": ("cron.day-of-week", "1-7 or SUN-SAT (1 = SUN)"),
    "cron(7 20 ? * NOT *)": ("cron.day-of-week", "1-7 or SUN-SAT"),
    "cron(0 0 ? * 3#1,6#3 *)": ("cron.day-of-week", "only one #"),
    "cron(0 0 ? * 2#6 *)": ("cron.day-of-week", "1 to 5"),
    "cron(0 0 ? * MON/2 *)": ("cron.day-of-week", "no /"),
    "cron(0/0 * * * ? *)": ("cron.minutes", "increment"),
    "cron(0 0 1 * ? 1969)": ("cron.year", "1970-2199"),
    "cron(0 0 1 * ? 2200)": ("cron.year", "1970-2199"),
    "cron(0 0 1 * ? 2030-2020)": ("cron.year", "cannot wrap"),
    "cron(INVALID)": ("cron", "six fields"),
    "cron()": ("cron", "six fields"),
    "cron(0 0 * * ?)": ("cron", "six fields"),
    "cron(0  0 * * ? *)": ("cron", "six fields"),
    "rate(10 seconds)": ("rate.unit", "minute, minutes, hour, hours, day, days"),
    "rate(10 years)": ("rate.unit", "minute, minutes"),
    "rate(1 minutes)": ("rate.unit", "rate(1 minute)"),
    "rate(1 hours)": ("rate.unit", "rate(1 hour)"),
    "rate(1 days)": ("rate.unit", "rate(1 day)"),
    "rate(10 minute)": ("rate.unit", "rate(10 minutes)"),
    "rate(10 hour)": ("rate.unit", "rate(10 hours)"),
    "rate(10 day)": ("rate.unit", "rate(10 days)"),
    "rate(10 minutess)": ("rate.unit", "minute, minutes"),
    "rate(10 MINUTES)": ("rate.unit", "lower case"),
    "rate(foo minutes)": ("rate.value", "1 or more"),
    "rate(0 minutes)": ("rate.value", "1 or more"),
    "rate(-10 minutes)": ("rate.value", "1 or more"),
    "rate()": ("rate", "rate(value unit)"),
    "rate(10)": ("rate", "rate(value unit)"),
    "rate( 10 minutes )": ("rate", "rate(value unit)"),
    " rate(10 minutes)": ("expression", "cron(...), rate(...) or at(...)"),
    "every day": ("expression", "cron(...), rate(...) or at(...)"),
    "at(2021-12-31T23:59:59Z)": ("at", "yyyy-mm-ddThh:mm:ss"),
    "at(2021-12-31)": ("at", "yyyy-mm-ddThh:mm:ss"),
    "at(2027-02-30T00:00:00)": ("at", "not a real date"),
    "cron(" + "0," * 130 + "0 0 * * ? *)": ("expression", "at most 256"),
}


@pytest.mark.parametrize(("expression", "refusal"), REFUSED.items(), ids=REFUSED.keys())
def test_invalid_expressions_are_refused_naming_the_field(
    expression: str, refusal: tuple[str, str]
) -> None:
    field, fragment = refusal
    with pytest.raises(InvalidScheduleError) as caught:
        parse_schedule(expression)
    assert caught.value.field == field
    assert fragment in caught.value.reason


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "x" * 51])
def test_an_unknown_time_zone_is_refused(zone: str) -> None:
    with pytest.raises(InvalidScheduleError) as caught:
        parse_schedule("rate(1 hour)", zone)
    assert caught.value.field == "timezone"


def test_a_minute_granular_walk_matches_a_brute_force_scan() -> None:
    """Every minute of a week, checked one by one, gives the same firings as the calendar walk."""
    schedule = parse_schedule("cron(0/20 9-11,22-1 ? * MON,WED-FRI *)", "Europe/Berlin")
    start = datetime.fromisoformat("2027-03-24T00:00:00+01:00")
    minute = start
    expected = []
    while minute < start + timedelta(days=7):
        minute += timedelta(minutes=1)
        local = minute.astimezone(schedule.zone)
        weekday_ok = local.strftime("%a") in {"Mon", "Wed", "Thu", "Fri"}
        hour_ok = local.hour in {9, 10, 11, 22, 23, 0, 1}
        if weekday_ok and hour_ok and local.minute % 20 == 0:
            expected.append(local)
    got = schedule.upcoming(start, len(expected) + 1)
    assert got[: len(expected)] == expected


WINDOW_STARTS = ["2027-03-12T00:00:00Z", "2027-03-26T00:00:00Z", "2027-10-29T00:00:00Z",
                 "2027-11-05T00:00:00Z", "2028-02-26T00:00:00Z"]


@settings(max_examples=40, deadline=None)
@given(
    minutes=st.sets(st.integers(0, 59), min_size=1, max_size=4),
    hours=st.sets(st.integers(0, 23), min_size=1, max_size=6),
    days=st.one_of(
        st.tuples(st.just("dom"), st.sets(st.integers(1, 31), min_size=1, max_size=8)),
        st.tuples(st.just("dow"), st.sets(st.integers(1, 7), min_size=1, max_size=4)),
    ),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
    window=st.sampled_from(WINDOW_STARTS),
)
def test_any_plain_cron_agrees_with_a_minute_by_minute_scan(
    minutes: set[int],
    hours: set[int],
    days: tuple[str, set[int]],
    zone: str,
    window: str,
) -> None:
    """Scan every real instant of four days; a local time fires at its first occurrence only."""
    kind, values = days
    listed = ",".join(map(str, sorted(values)))
    dom, dow = (listed, "?") if kind == "dom" else ("?", listed)
    expression = (
        f"cron({','.join(map(str, sorted(minutes)))} {','.join(map(str, sorted(hours)))}"
        f" {dom} * {dow} *)"
    )
    schedule = parse_schedule(expression, zone)
    start = utc(window)
    expected = []
    for step in range(1, 4 * 24 * 60 + 1):
        local = (start + timedelta(minutes=step)).astimezone(schedule.zone)
        day_value = local.day if kind == "dom" else local.isoweekday() % 7 + 1
        if (local.minute in minutes and local.hour in hours and day_value in values
                and local.fold == 0):
            expected.append(local)
    got = schedule.upcoming(start, len(expected) + 1)
    assert got[: len(expected)] == expected
    if len(got) > len(expected):
        assert got[len(expected)] > start + timedelta(days=4)


# --- extremes: every field, zone, bound and moment ------------------------------------------------

def pick(*values: str) -> st.SearchStrategy[str]:
    return st.sampled_from(values)


# Mostly valid fields, each with its extremes and a few values just past them.
CRON = st.builds(
    lambda minutes, hours, days, month, year: (
        f"cron({minutes} {hours} {days[0]} {month} {days[1]} {year})"
    ),
    pick("*", "0", "59", "0/15", "50-10/10", "60", "*/99999999999999999999"),
    pick("*", "0", "23", "20-2", "24"),
    st.sampled_from([("*", "?"), ("?", "*"), ("L", "?"), ("LW", "?"), ("L-30", "?"), ("31W", "?"),
                     ("29", "?"), ("31", "?"), ("?", "6L"), ("?", "SAT#5"), ("?", "1#6"),
                     ("*", "*")]),
    pick("*", "2", "JAN-DEC", "DEC-JAN", "13"),
    pick("*", "1970", "2199", "2200", "1970-2199/229", "2199-1970", "99999999999999999999"),
)  # fmt: skip
RATE = st.builds(
    "rate({} {})".format,
    pick("1", "2", "0", "9" * 10, "9" * 30),
    pick("minute", "minutes", "hours", "days", "weeks"),
)
AT = st.builds(
    "at({:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d})".format,
    st.sampled_from([0, 1969, 1970, 2030, 2199, 2200, 9999]),
    *(st.integers(0, top) | st.integers(1, top - 1) for top in (13, 32)),
    *(st.integers(0, top) | st.integers(0, top - 1) for top in (24, 60, 60)),
)
EXPRESSIONS = st.one_of(CRON, RATE, AT)
ZONES = st.sampled_from(
    ["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "America/New_York", "Asia/Kathmandu", "", "x"]
)
OFFSETS = st.sampled_from([UTC, *(timezone(timedelta(hours=h)) for h in (-23, -12, 1, 14, 23))])
MOMENTS = st.builds(
    lambda moment, offset: moment.replace(tzinfo=offset),
    st.one_of(
        st.sampled_from([datetime.min, datetime.max, datetime(1970, 1, 1), datetime(2200, 1, 1)]),
        st.datetimes(),
    ),
    OFFSETS,
)


@settings(max_examples=300, deadline=None)
@given(
    expression=EXPRESSIONS,
    zone=ZONES,
    start=st.none() | MOMENTS,
    end=st.none() | MOMENTS,
    moments=st.lists(MOMENTS, min_size=1, max_size=3),
)
def test_any_schedule_parses_or_is_refused_and_then_never_raises(
    expression: str,
    zone: str,
    start: datetime | None,
    end: datetime | None,
    moments: list[datetime],
) -> None:
    try:
        schedule = parse_schedule(expression, zone, start=start, end=end)
    except InvalidScheduleError:
        return
    for moment in moments:
        following = schedule.next_after(moment)
        if following is not None:
            assert following > moment
            assert EARLIEST <= following < HORIZON
        found = schedule.upcoming(moment, 3)
        assert found == sorted(found)
        window = firings_between(schedule, moment, moments[0], inclusive=True)
        between = list(itertools.islice(window, 3))
        assert all(moment <= f <= moments[0] for f in between)


def test_dates_outside_1970_to_2199_are_refused_naming_the_field() -> None:
    plus_one, minus_one = timezone(timedelta(hours=1)), timezone(timedelta(hours=-1))
    refused = [
        (("rate(1 minute)", "UTC"), {"start": datetime.min.replace(tzinfo=plus_one)}, "start_date"),
        (("rate(1 minute)", "UTC"), {"end": datetime.max.replace(tzinfo=minus_one)}, "end_date"),
        (("at(9999-12-31T23:59:59)", "America/New_York"), {}, "at"),
        (("at(1970-01-01T00:30:00)", "Europe/Paris"), {}, "at"),  # 1969-12-31T23:30Z
    ]
    for args, bounds, field in refused:
        with pytest.raises(InvalidScheduleError) as caught:
            parse_schedule(*args, **bounds)  # type: ignore[arg-type]
        assert caught.value.field == field


def test_next_after_takes_any_moment_and_stops_at_2200() -> None:
    rate = parse_schedule("rate(1 minute)")
    earliest = datetime.min.replace(tzinfo=timezone(timedelta(hours=-12)))
    assert rate.next_after(earliest) == EARLIEST
    assert rate.next_after(datetime.max.replace(tzinfo=timezone(timedelta(hours=14)))) is None
    assert rate.next_after(utc("2199-12-31T23:58:30Z")) == utc("2199-12-31T23:59:00Z")
    assert rate.next_after(utc("2199-12-31T23:59:00Z")) is None
    kiritimati = parse_schedule("cron(0 0 1 1 ? *)", "Pacific/Kiritimati")
    first = kiritimati.next_after(earliest)
    assert first is not None and first.isoformat() == "1970-01-01T00:00:00-10:40"
