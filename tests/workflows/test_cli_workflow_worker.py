"""``eventbus workflows worker``: what it refuses before it starts. (It runs as a real process
in test_durable_faults.py.)"""

from __future__ import annotations

from typer.testing import CliRunner

from eventbus.cli import app


def test_a_tasks_mapping_that_does_not_import_is_refused_before_starting(redis_url: str) -> None:
    result = CliRunner().invoke(app, ["workflows", "worker", "--redis", redis_url,
                                      "--tasks", "no_such_module_here:TASKS"])
    assert result.exit_code == 2
    assert "--tasks no_such_module_here:TASKS: cannot import it" in result.output


def test_a_tasks_name_that_is_not_a_mapping_is_refused(redis_url: str) -> None:
    result = CliRunner().invoke(app, ["workflows", "worker", "--redis", redis_url,
                                      "--tasks", "eventbus.keys:WORKFLOW_GROUP"])
    assert result.exit_code == 2
    assert "not a mapping of resource to callable" in result.output
