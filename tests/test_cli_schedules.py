"""``eventbus schedules next``: output lines, zones, --after, exit codes."""

from __future__ import annotations

from datetime import UTC, datetime

from typer.testing import CliRunner

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
