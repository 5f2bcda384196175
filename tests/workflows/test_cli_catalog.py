"""Workflow files from the command line: ``eventbus rules validate`` checks them with the rules,
``eventbus run`` refuses to start on a bad one and reloads them (real Redis, real processes)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eventbus.cli import app

RULES = """bus: default
rules:
  - name: orders
    event_pattern: {source: [shop]}
    targets:
      - {id: out, type: redis_stream, stream: out}
"""
PASS = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}'
# A Next naming no state (line 3), and so no terminal state either (no line).
DANGLING = '{\n  "StartAt": "A",\n  "States": {"A": {"Type": "Pass", "Next": "B"}}\n}'


def project(tmp_path: Path, **workflows: str) -> Path:
    """``rules/`` with one rule and, when given, ``workflows/`` with these files."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "orders.yaml").write_text(RULES)
    if workflows:
        (tmp_path / "workflows").mkdir()
        for name, text in workflows.items():
            (tmp_path / "workflows" / name.replace("_", ".")).write_text(text)
    return tmp_path


def test_rules_validate_checks_the_workflows_beside_the_rules(tmp_path: Path) -> None:
    root = project(tmp_path, a_asl_json=PASS, b_express_asl_json=PASS)
    result = CliRunner().invoke(app, ["rules", "validate", str(root / "rules")])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["ok: 1 rule(s) on 1 bus(es), 2 workflow(s)"]


def test_rules_validate_prints_every_workflow_problem_with_file_and_line(tmp_path: Path) -> None:
    root = project(tmp_path, a_asl_json=DANGLING, b_asl_yaml="StartAt: [\n")
    result = CliRunner().invoke(app, ["rules", "validate", "--rules", str(root / "rules"),
                                      "--workflows", str(root / "workflows")])  # fmt: skip
    assert result.exit_code == 1
    a, b = root / "workflows" / "a.asl.json", root / "workflows" / "b.asl.yaml"
    assert result.stdout.splitlines() == [
        f"{a}: Workflow has no terminal state",
        f"{a}:3: /States/A/Next: Missing 'Next' target: B",
        f"{b}:2: YAML syntax error: {result.stdout.splitlines()[2].split('syntax error: ')[1]}",
    ]
    assert "3 problem(s) found" in result.stderr


def test_rules_validate_refuses_a_workflow_directory_that_does_not_exist(tmp_path: Path) -> None:
    root = project(tmp_path)
    result = CliRunner().invoke(app, ["rules", "validate", str(root / "rules"),
                                      "--workflows", str(root / "nope")])  # fmt: skip
    assert result.exit_code == 2
    assert f"{root / 'nope'}: no such file or directory" in result.stderr


def test_the_shipped_rules_and_workflows_are_valid() -> None:
    root = Path(__file__).parent.parent.parent
    result = CliRunner().invoke(app, ["rules", "validate", str(root / "rules")])
    assert result.exit_code == 0, result.output
    assert "1 workflow(s)" in result.stdout


def eventbus(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "eventbus", *args], cwd=cwd,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_run_refuses_to_start_listing_every_rule_and_workflow_problem(
    tmp_path: Path, redis_url: str
) -> None:
    root = project(tmp_path, a_asl_json=DANGLING)
    (root / "rules" / "broken.yaml").write_text("rules: [{name: x}]")
    proc = eventbus("run", "--redis", redis_url, cwd=root)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.startswith("invalid rules:\n")
    assert "rules/broken.yaml:1: rule x: " in err
    assert "workflows/a.asl.json:3: /States/A/Next: Missing 'Next' target: B" in err
    assert "workflows/a.asl.json: Workflow has no terminal state" in err


def test_run_refuses_to_start_on_invalid_workflows_alone(tmp_path: Path, redis_url: str) -> None:
    root = project(tmp_path)
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "bad name.asl.json").write_text(PASS)
    proc = eventbus("run", "--redis", redis_url, "--workflows", "elsewhere", cwd=root)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.startswith("invalid workflows:\nelsewhere/bad name.asl.json: a state machine name")


def _stderr_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line, "eventbus run exited"
    return line


def _log_lines(proc: subprocess.Popen[str], until: str) -> list[dict[str, object]]:
    """The JSON log lines up to and including the first whose message starts with ``until``."""
    found = []
    while True:
        line = _stderr_line(proc)
        if line.startswith("{"):
            found.append(orjson.loads(line))
            if str(found[-1]["message"]).startswith(until):
                return found


@pytest.mark.timeout(90)
def test_run_loads_reloads_and_keeps_the_running_workflows_when_new_ones_are_refused(
    tmp_path: Path, redis_url: str
) -> None:
    root = project(tmp_path, a_asl_json=PASS)
    proc = eventbus("run", "--redis", redis_url, cwd=root)
    try:
        while " rules " not in (summary := _stderr_line(proc)):
            pass
        assert "1 rules on 1 buses, 0 schedules, 1 workflows, Redis" in summary

        (root / "workflows" / "a.asl.json").write_text(DANGLING)
        refused = _log_lines(proc, "rules and workflows refused")
        assert "workflows/a.asl.json" in str(refused[-1]["message"])

        # b first: no reload can take a set without it once a is valid again
        (root / "workflows" / "b.asl.json").write_text(PASS)
        (root / "workflows" / "a.asl.json").write_text(PASS)
        reloaded = _log_lines(proc, "rules reloaded")
        assert reloaded[-1]["workflows"] == 2
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_workflows_graph_finds_an_express_machine_by_its_name(tmp_path: Path) -> None:
    root = project(tmp_path, quick_express_asl_json=PASS)
    result = CliRunner().invoke(app, ["workflows", "graph", "quick",
                                      "--workflows", str(root / "workflows")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "A" in result.stdout


@pytest.mark.timeout(120)
def test_run_runs_a_workflow_worker_unless_told_not_to(tmp_path: Path, redis_url: str) -> None:
    root = project(tmp_path, a_asl_json=PASS)
    proc = eventbus("run", "--redis", redis_url, "--verbose", cwd=root)
    try:
        assert _log_lines(proc, "workflow worker started")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    proc = eventbus("run", "--redis", redis_url, "--verbose", "--no-workflows", cwd=root)
    try:
        seen = _log_lines(proc, "router started")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "workflow worker" not in str(seen) + rest
