"""``eventbus schedules next``: output lines, zones, --after, exit codes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from typer.testing import CliRunner

from eventbus import keys
from eventbus.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["schedules", "next", *args])
    return result.exit_code, result.stdout, result.stderr


def test_prints_n_firings_in_the_zone_one_per_line() -> None:
    code, out, err = run(
        "cron(0 3 * * ? *)", "-n", "3", "--tz", "Europe/Berlin", "--after", "2027-03-26T12:00:00Z"
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "2027-03-27T03:00:00+01:00",
        "2027-03-28T03:00:00+02:00",
        "2027-03-29T03:00:00+02:00",
    ]


def test_after_is_exclusive() -> None:
    code, out, _ = run("rate(1 hour)", "-n", "1", "--after", "2026-11-24T10:00:00+00:00")
    assert (code, out) == (0, "2026-11-24T11:00:00+00:00\n")


def test_an_after_without_offset_is_read_in_the_zone() -> None:
    code, out, _ = run(
        "cron(0 9 * * ? *)", "-n", "1", "--tz", "America/New_York", "--after", "2027-01-04T09:00:00"
    )
    assert (code, out) == (0, "2027-01-05T09:00:00-05:00\n")


def test_defaults_to_five_firings_after_now() -> None:
    before = datetime.now(UTC)
    code, out, _ = run("rate(1 minute)")
    lines = [datetime.fromisoformat(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 5
    assert before < lines[0] and lines == sorted(lines)


def test_prints_fewer_lines_when_the_schedule_ends() -> None:
    code, out, _ = run("at(2027-01-01T00:00:00)", "--after", "2026-01-01T00:00:00Z")
    assert (code, out) == (0, "2027-01-01T00:00:00+00:00\n")


def test_an_invalid_expression_exits_2_naming_the_field_on_stderr() -> None:
    code, out, err = run("cron(0 1 * * * *)")
    assert (code, out) == (2, "")
    assert "cron.day-of-week" in err


def test_an_unknown_zone_exits_2() -> None:
    code, out, err = run("rate(1 hour)", "--tz", "Mars/Olympus")
    assert (code, out) == (2, "")
    assert "timezone" in err


def test_an_unreadable_after_exits_2() -> None:
    code, out, err = run("rate(1 hour)", "--after", "yesterday")
    assert (code, out) == (2, "")
    assert "--after" in err


# --- schedules list and schedules backfill -------------------------------------------------------

NIGHTLY = """
bus: reports
rules:
  - name: nightly
    schedule_expression: cron(0 2 * * ? *)
    timezone: Europe/Berlin
    targets: [{id: out, type: redis_stream, stream: out}]
  - name: hourly
    state: DISABLED
    schedule_expression: rate(1 hour)
    targets: [{id: out, type: redis_stream, stream: out}]
  - name: matched
    event_pattern: {source: [shop]}
    targets: [{id: out, type: redis_stream, stream: out}]
"""


def rules_dir(tmp_path: Path) -> str:
    (tmp_path / "reports.yaml").write_text(NIGHTLY)
    return str(tmp_path)


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["schedules", *args])
    return result.exit_code, result.stdout, result.stderr


def test_list_shows_each_schedule_rule_with_zone_state_and_next_three_firings(
    tmp_path: Path,
) -> None:
    code, out, _ = invoke("list", "--rules", rules_dir(tmp_path), "--after", "2027-03-26T12:00:00Z")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["RULE", "EXPRESSION", "ZONE", "STATE", "NEXT", "FIRINGS"]
    assert [row.split("  ")[0] for row in rows] == ["reports/nightly", "reports/hourly"]
    assert "Europe/Berlin" in rows[0] and "ENABLED" in rows[0]
    # 28 March 2027 has no 02:00 in Berlin (clocks jump from 02:00 to 03:00)
    assert rows[0].endswith(
        "2027-03-27T02:00:00+01:00, 2027-03-29T02:00:00+02:00, 2027-03-30T02:00:00+02:00"
    )
    assert "DISABLED" in rows[1] and rows[1].endswith("2027-03-26T15:00:00+00:00")


def test_backfill_makes_each_firing_in_the_range_once(tmp_path: Path, redis_url: str) -> None:
    rules = rules_dir(tmp_path)
    args = [
        "backfill",
        "reports/nightly",
        "--from",
        "2026-03-27T02:00:00",
        "--to",
        "2026-03-31T02:00",
    ]
    code, out, _ = invoke(*args, "--rules", rules, "--redis", redis_url)
    assert (code, orjson.loads(out)) == (
        0,
        {"rule": "reports/nightly", "firings": 4, "fired": 4, "skipped": 0},
    )
    code, out, _ = invoke(*args, "--rules", rules, "--redis", redis_url)
    assert orjson.loads(out) == {"rule": "reports/nightly", "firings": 4, "fired": 0, "skipped": 4}
    client = redis.Redis.from_url(redis_url)
    entries: Any = client.xrange(keys.delivery_queue("reports", "nightly", "out"))
    client.close()
    stamped = [orjson.loads(fields[b"event"])["time"] for _, fields in entries]
    assert stamped == [
        "2026-03-27T01:00:00Z",
        "2026-03-28T01:00:00Z",
        "2026-03-30T00:00:00Z",  # 29 March has no 02:00 in Berlin
        "2026-03-31T00:00:00Z",
    ]


@pytest.mark.parametrize(
    ("rule", "bounds", "message"),
    [
        ("reports/missing", ("2027-01-01T00:00Z", "2027-01-02T00:00Z"), "no rule 'missing'"),
        ("nightly", ("2027-01-01T00:00Z", "2027-01-02T00:00Z"), "on bus 'default'"),
        ("reports/matched", ("2027-01-01T00:00Z", "2027-01-02T00:00Z"), "no schedule_expression"),
        ("reports/nightly", ("2027-01-02T00:00Z", "2027-01-01T00:00Z"), "is before --from"),
        ("reports/nightly", ("2027-01-01T00:00Z", "2999-01-01T00:00Z"), "in the future"),
        ("reports/nightly", ("yesterday", "2027-01-01T00:00Z"), "--from 'yesterday' is not"),
    ],
)
def test_backfill_refuses_bad_arguments_with_exit_2(
    tmp_path: Path, rule: str, bounds: tuple[str, str], message: str
) -> None:
    args = ["backfill", rule, "--from", bounds[0], "--to", bounds[1]]
    code, out, err = invoke(*args, "--rules", rules_dir(tmp_path), "--redis", "redis://127.0.0.1:1")
    assert (code, out) == (2, "")
    assert message in err
