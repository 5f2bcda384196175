"""``eventbus workflows run``: prints the execution's result; exit 0 only when it succeeded."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from eventbus.cli import app

runner = CliRunner()


def _write(tmp_path: Path, definition: dict[str, object]) -> str:
    path = tmp_path / "machine.asl.json"
    path.write_bytes(orjson.dumps(definition))
    return str(path)


def test_a_succeeding_execution_prints_its_output_and_exits_0(tmp_path: Path) -> None:
    file = _write(tmp_path, {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    result = runner.invoke(app, ["workflows", "run", file, "--input", '{"x": 1}'])
    assert result.exit_code == 0
    printed = orjson.loads(result.stdout)
    assert (printed["status"], orjson.loads(printed["output"])) == ("SUCCEEDED", {"x": 1})


def test_a_failing_execution_exits_1_with_its_error(tmp_path: Path) -> None:
    file = _write(tmp_path, {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E"}}})
    result = runner.invoke(app, ["workflows", "run", file])
    assert result.exit_code == 1
    assert orjson.loads(result.stdout)["error"] == "E"


def test_an_invalid_definition_exits_2(tmp_path: Path) -> None:
    file = _write(tmp_path, {"States": {}})
    result = runner.invoke(app, ["workflows", "run", file])
    assert result.exit_code == 2
