"""The typer application and the argument helpers every command shares.

Commands live in one module per area (patterns, transform, rules, schedules, runtime, gateway,
workflows); each parses its arguments, calls one core function, prints, and maps errors to exit
codes: 0 success, 1 a negative answer or a failure the command reports, 2 bad usage or input.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import orjson
import typer

__all__ = [
    "app",
    "archives_app",
    "dlq_app",
    "embedded_app",
    "fail",
    "read_json_arg",
    "rules_app",
    "schedules_app",
    "workflows_app",
]


# The --redis option of every command that talks to Redis.
REDIS_HELP = "Redis URL; default $EVENTBUS_REDIS_URL, else the embedded Redis in ./.eventbus/."


def _group(help_text: str, **more: Any) -> typer.Typer:
    # Plain click help (no rich tables): rich's would print every flag as `--verbose <bool>`.
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None, **more)


app = _group(
    "A self-hosted, EventBridge-style event bus and rule router on Redis Streams.",
    name="eventbus",
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = _group("Validate rule files and print their JSON Schema.")
schedules_app = _group("Inspect, list and backfill schedules.")
dlq_app = _group("List and redrive dead letters.")
embedded_app = _group("Manage the embedded Redis under ./.eventbus/.")
workflows_app = _group("Validate and run Amazon States Language state machines.")
archives_app = _group("List archives, count their events and query them.")
app.add_typer(rules_app, name="rules")
app.add_typer(schedules_app, name="schedules")
app.add_typer(dlq_app, name="dlq")
app.add_typer(embedded_app, name="embedded")
app.add_typer(workflows_app, name="workflows")
app.add_typer(archives_app, name="archives")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"eventbus {version('eventbus')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """A self-hosted, EventBridge-style event bus and rule router on Redis Streams."""


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (``uvicorn[standard]``), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` on standard error and exit with ``code``."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def read_text_arg(value: str, what: str) -> str:
    """The text behind an argument that is inline text, a file path, or ``-`` for stdin."""
    if value == "-":
        return sys.stdin.read()
    stripped = value.lstrip()
    if stripped[:1] in ("{", "[", '"') or not stripped:
        return value
    path = Path(value)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    return value


def read_json_arg(value: str, what: str) -> Any:
    """Parse an argument given as inline JSON, a file path, or ``-``; exit 2 when it is not JSON."""
    text = read_text_arg(value, what)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as e:
        looks_inline = value.lstrip()[:1] in ("{", "[", '"')
        if value != "-" and not looks_inline and not Path(value).is_file():
            fail(f"{what} {value}: no such file (and not inline JSON)")
        fail(f"{what} is not valid JSON: {e}")
