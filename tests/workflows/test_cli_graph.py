"""``eventbus workflows graph``: finding the machine, marking it from a history, exit codes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eventbus.cli import app

MACHINE = {"StartAt": "Call", "States": {
    "Call": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "Next": "Done",
             "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Oops"}]},
    "Oops": {"Type": "Fail"},
    "Done": {"Type": "Succeed"}}}
YAML_MACHINE = """\
StartAt: Only
States:
  Only:
    Type: Pass
    End: true
"""
HISTORY = [
    {"id": 1, "type": "ExecutionStarted"},
    {"id": 2, "type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Call"}},
    {"id": 3, "type": "TaskScheduled"},
    {"id": 4, "type": "TaskFailed"},
    {"id": 5, "type": "TaskStateExited", "stateExitedEventDetails": {"name": "Call"}},
    {"id": 6, "type": "FailStateEntered", "stateEnteredEventDetails": {"name": "Oops"}},
    {"id": 7, "type": "ExecutionFailed"},
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "pipeline.asl.json").write_bytes(orjson.dumps(MACHINE))
    (folder / "tiny.asl.yaml").write_text(YAML_MACHINE)
    return folder


def test_a_file_is_drawn_with_every_state(runner: CliRunner, workflows: Path) -> None:
    result = runner.invoke(app, ["workflows", "graph", str(workflows / "pipeline.asl.json")])
    assert result.exit_code == 0, result.output
    for text in ("● Start", "Call", "Task · http:invoke", "Catch States.ALL", "Oops", "Done",
                 "◉ End"):
        assert text in result.stdout


def test_a_name_is_found_in_the_workflows_folder_json_or_yaml(
    runner: CliRunner, workflows: Path
) -> None:
    for name, state in (("pipeline", "Call"), ("tiny", "Only")):
        result = runner.invoke(app, ["workflows", "graph", name, "--workflows", str(workflows)])
        assert result.exit_code == 0, result.output
        assert state in result.stdout


def test_a_history_marks_each_state(runner: CliRunner, workflows: Path, tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    history.write_bytes(orjson.dumps({"events": HISTORY}))  # GetExecutionHistory's answer
    result = runner.invoke(app, ["workflows", "graph", "pipeline", "--workflows", str(workflows),
                                 "--history", str(history), "--ascii", "--no-color"])
    assert result.exit_code == 0, result.output
    assert "! Call" in result.stdout and "x Oops" in result.stdout
    assert ". Done" in result.stdout and "\x1b[" not in result.stdout


def test_colour_can_be_forced(runner: CliRunner, workflows: Path) -> None:
    result = runner.invoke(app, ["workflows", "graph", "pipeline", "--workflows", str(workflows),
                                 "--history", orjson.dumps(HISTORY).decode(), "--color"])
    assert result.exit_code == 0, result.output
    assert "\x1b[" in result.stdout


def test_a_narrow_width_lists_an_outline(runner: CliRunner, workflows: Path) -> None:
    result = runner.invoke(app, ["workflows", "graph", "pipeline", "--workflows", str(workflows),
                                 "--width", "20"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:3] == ["Call  Task · http:invoke", "    → Done",
                                              "    Catch States.ALL → Oops"]


def test_an_unknown_name_exits_2_saying_where_it_looked(
    runner: CliRunner, workflows: Path
) -> None:
    result = runner.invoke(app, ["workflows", "graph", "nope", "--workflows", str(workflows)])
    assert result.exit_code == 2
    assert f"{workflows}/nope.asl.json" in result.stderr


def test_a_history_that_is_not_a_list_of_events_exits_2(
    runner: CliRunner, workflows: Path
) -> None:
    result = runner.invoke(app, ["workflows", "graph", "pipeline", "--workflows", str(workflows),
                                 "--history", '{"events": 3}'])
    assert result.exit_code == 2
    assert "--history" in result.stderr


def test_input_runs_the_machine_in_process_and_marks_it(
    runner: CliRunner, workflows: Path
) -> None:
    # No task is registered in-process, so Call fails and its Catch moves on to Oops.
    result = runner.invoke(app, ["workflows", "graph", "pipeline", "--workflows", str(workflows),
                                 "--input", '{"n": 1}'])
    assert result.exit_code == 0, result.output
    assert "↯ Call" in result.stdout and "✗ Oops" in result.stdout
    assert "· Done" in result.stdout


def test_input_that_is_not_json_exits_2(runner: CliRunner, workflows: Path) -> None:
    result = runner.invoke(app, ["workflows", "graph", "tiny", "--workflows", str(workflows),
                                 "--input", "{oops"])
    assert result.exit_code == 2
    assert "--input" in result.stderr
