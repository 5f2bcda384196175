"""``eventbus``: the command line. Importing the command modules registers their commands."""

from __future__ import annotations

from eventbus.cli import (  # noqa: F401
    archives,
    gateway,
    observe,
    patterns,
    publish,
    rules,
    runtime,
    schedules,
    transform,
    workflow_executions,
    workflow_worker,
    workflows,
)
from eventbus.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
