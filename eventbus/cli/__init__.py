"""``eventbus``: the command line. Importing the command modules registers their commands."""

from __future__ import annotations

from eventbus.cli import gateway, patterns, rules, runtime, schedules, transform  # noqa: F401
from eventbus.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
