"""``eventbus rules validate`` and ``eventbus rules schema``: output and exit codes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eventbus.cli import app

DATA = Path(__file__).parent / "data"
VALID = "rules:\n  - name: r\n    event_pattern: {source: [a]}\n    targets: [{id: t, type: log}]\n"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_validate_exits_0_when_every_rule_is_valid(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(VALID)
    result = runner.invoke(app, ["rules", "validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "1 rule(s) on 1 bus(es)" in result.stdout


def test_validate_accepts_the_issue_example(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "validate", str(DATA / "issue_example.yaml")])
    assert result.exit_code == 0, result.output


def test_validate_prints_every_problem_one_per_line_and_exits_1(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").write_text(VALID.replace("type: log", "type: nope"))
    (tmp_path / "b.yaml").write_text("rules:\n  - name: 'bad name'\n    event_pattern: {a: [1]}\n")
    result = runner.invoke(app, ["rules", "validate", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines == [
        f"{tmp_path / 'a.yaml'}:4: rule r: targets[0].type: unknown target type 'nope'; "
        f"known types: {lines[0].split('known types: ')[1]}",
        f"{tmp_path / 'b.yaml'}:2: rule bad name: name: String should match pattern "
        "'^[.\\-_A-Za-z0-9]+$' (found 'bad name')",
    ]
    assert "2 problem(s) found" in result.stderr


def test_validate_prints_warnings_and_exits_0_when_there_are_only_warnings(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "r.yaml").write_text(VALID.replace("{source: [a]}", "{detail_type: [a]}"))
    result = runner.invoke(app, ["rules", "validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    first, last = result.stdout.splitlines()
    where = f"{tmp_path / 'r.yaml'}:3: rule r: event_pattern.detail_type"
    assert first.startswith(f"{where}: warning: ")
    assert last == "ok: 1 rule(s) on 1 bus(es), 1 warning(s)"


def test_validate_exits_1_on_an_error_and_prints_the_warnings_too(
    runner: CliRunner, tmp_path: Path
) -> None:
    text = VALID.replace("{source: [a]}", "{detail_type: [a]}").replace("type: log", "type: nope")
    (tmp_path / "r.yaml").write_text(text)
    result = runner.invoke(app, ["rules", "validate", str(tmp_path)])
    assert result.exit_code == 1
    warning, error = result.stdout.splitlines()
    assert ": warning: " in warning and "unknown target type 'nope'" in error
    assert "1 problem(s) and 1 warning(s) found" in result.stderr


def test_validate_names_file_and_line_of_a_yaml_syntax_error(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("rules:\n  - name: r\n    event_pattern: {a: [1]\n")
    result = runner.invoke(app, ["rules", "validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{path}:4: YAML syntax error")


def test_validate_defaults_to_the_rules_directory(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(VALID)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["rules", "validate"])
    assert result.exit_code == 0, result.output


def test_validate_exits_2_when_the_path_does_not_exist(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["rules", "validate", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "no such file or directory" in result.stderr


def test_schema_prints_the_rule_file_json_schema(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "schema"])
    assert result.exit_code == 0
    schema = orjson.loads(result.stdout)
    assert schema["title"] == "eventbus rule file" and "rules" in schema["properties"]


def test_validate_takes_the_rules_as_an_option_too(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(VALID)
    result = runner.invoke(app, ["rules", "validate", "--rules", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 1 rule(s)")
