"""``eventbus workflows validate``: output and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventbus.cli import app

VALID = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}'
TWO_PROBLEMS = (
    '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "TimeoutSeconds": 1},'
    ' "B": {"Type": "Wait", "End": true}}}'
)
CALLBACK = (
    '{"StartAt": "T", "States": {"T": {"Type": "Task", "End": true,'
    ' "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken"}}}'
)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_valid_definition_exits_0(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "ok.json", VALID)
    result = runner.invoke(app, ["workflows", "validate", path])
    assert (result.exit_code, result.stdout) == (0, f"{path}: valid\n")


def test_every_problem_is_printed_as_file_location_message(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = write(tmp_path, "bad.json", TWO_PROBLEMS)
    result = runner.invoke(app, ["workflows", "validate", path])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}: /States/A: Field 'TimeoutSeconds' is not supported",
        f"{path}: /States/B: This object should have only one of the following fields: "
        "[SecondsPath, Seconds, TimestampPath, Timestamp]",
    ]


def test_each_file_is_checked_and_one_invalid_file_fails_the_run(
    runner: CliRunner, tmp_path: Path
) -> None:
    good = write(tmp_path, "ok.json", VALID)
    bad = write(tmp_path, "bad.json", TWO_PROBLEMS)
    result = runner.invoke(app, ["workflows", "validate", good, bad])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == f"{good}: valid"
    assert len(result.stdout.splitlines()) == 3


def test_a_problem_without_location_is_located_at_the_root(
    runner: CliRunner, tmp_path: Path
) -> None:
    loop = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}'
    path = write(tmp_path, "loop.json", loop)
    result = runner.invoke(app, ["workflows", "validate", path])
    assert (result.exit_code, result.stdout) == (1, f"{path}: /: Workflow has no terminal state\n")


def test_the_type_option_applies_express_rules(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "callback.json", CALLBACK)
    assert runner.invoke(app, ["workflows", "validate", path]).exit_code == 0
    result = runner.invoke(app, ["workflows", "validate", "--type", "express", path])
    assert result.exit_code == 1
    assert "Express state machine does not support '.waitForTaskToken'" in result.stdout


def test_an_unknown_type_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "ok.json", VALID)
    result = runner.invoke(app, ["workflows", "validate", "--type", "sync", path])
    assert result.exit_code == 2
    assert "--type must be STANDARD or EXPRESS" in result.stderr


def test_text_that_is_not_json_says_where(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", '{"StartAt": "A",\n "States": }')
    result = runner.invoke(app, ["workflows", "validate", path])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{path}: line 2, column 12: not valid JSON:")


def test_an_empty_file_is_invalid(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "empty.json", "")
    result = runner.invoke(app, ["workflows", "validate", path])
    assert result.exit_code == 1
    assert "the file is empty" in result.stdout


def test_an_unreadable_file_exits_2_after_checking_the_others(
    runner: CliRunner, tmp_path: Path
) -> None:
    good = write(tmp_path, "ok.json", VALID)
    missing = str(tmp_path / "missing.json")
    result = runner.invoke(app, ["workflows", "validate", missing, good])
    assert result.exit_code == 2
    assert f"{missing}: cannot read the file: No such file or directory" in result.stderr
    assert result.stdout == f"{good}: valid\n"


def test_a_dash_reads_standard_input(runner: CliRunner) -> None:
    result = runner.invoke(app, ["workflows", "validate", "-"], input=VALID)
    assert (result.exit_code, result.stdout) == (0, "-: valid\n")
