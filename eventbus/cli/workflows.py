"""CLI commands: ``eventbus workflows validate FILE...`` and ``eventbus workflows run FILE``.

Each command of the group reads its definitions with ``read_definition``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from eventbus.cli.app import fail, read_text_arg, workflows_app

__all__ = ["read_definition"]

MachineType = Annotated[
    str,
    typer.Option(
        "--type",
        help="STANDARD or EXPRESS (any case); EXPRESS machines refuse .sync and "
        ".waitForTaskToken tasks.",
    ),
]


def read_definition(path: str) -> str:
    """The text of a definition file (``-`` for standard input); raises OSError or
    UnicodeDecodeError when it cannot be read."""
    if path == "-":
        return sys.stdin.read()
    return Path(path).read_text(encoding="utf-8")


def _json_problem(text: str) -> str | None:
    """Where and why ``text`` is not JSON, for a reader (None when it is JSON)."""
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as e:
        if not text.strip():
            return "/: the file is empty; a definition is a JSON object"
        return f"line {e.lineno}, column {e.colno}: not valid JSON: {e.msg}"
    return None


@workflows_app.command("validate")
def validate(
    files: Annotated[
        list[str], typer.Argument(help="State machine definitions (JSON files; - for stdin).")
    ],
    machine_type: MachineType = "STANDARD",
) -> None:
    """Check state machine definitions as Step Functions would.

    Prints every problem, one per line, as `file: location: message` (the location as
    ValidateStateMachineDefinition gives it, such as /States/Choose/Choices[0]/Next), and
    `file: valid` for a definition without problems. Exits 0 when every file is valid, 1 when
    a definition is invalid (or not JSON), 2 when a file cannot be read.
    """
    from eventbus.errors import InvalidDefinition
    from eventbus.workflows import validate_definition

    machine_type = machine_type.upper()
    if machine_type not in ("STANDARD", "EXPRESS"):
        typer.echo(f"--type must be STANDARD or EXPRESS, not {machine_type}", err=True)
        raise typer.Exit(2)
    invalid = unreadable = False
    for name in files:
        try:
            text = read_definition(name)
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            typer.echo(f"{name}: cannot read the file: {reason}", err=True)
            unreadable = True
            continue
        not_json = _json_problem(text)
        if not_json is not None:
            typer.echo(f"{name}: {not_json}")
            invalid = True
            continue
        try:
            validate_definition(text, machine_type)
        except InvalidDefinition as e:
            invalid = True
            for problem in e.diagnostics:
                typer.echo(f"{name}: {problem.get('location', '/')}: {problem['message']}")
            continue
        typer.echo(f"{name}: valid")
    if unreadable:
        raise typer.Exit(2)
    if invalid:
        raise typer.Exit(1)


@workflows_app.command("run")
def run(
    file: Annotated[
        str, typer.Argument(help="The state machine definition (JSON file; - for stdin).")
    ],
    input: Annotated[
        str, typer.Option("--input", help="The execution input: inline JSON, a file, or -.")
    ] = "{}",
    machine_type: MachineType = "STANDARD",
    name: Annotated[str | None, typer.Option("--name", help="The execution name.")] = None,
) -> None:
    """Run a state machine to its end in-process and print the result as JSON.

    Wait states do not sleep (the clock is virtual); Task states fail with States.TaskFailed,
    as no task is registered. Exit 0 when the execution succeeded, 1 otherwise, 2 when the
    definition or the input is invalid or the file cannot be read.
    """
    from eventbus.errors import InvalidDefinition, InvalidExecutionInput
    from eventbus.workflows import run_local

    try:
        definition = read_definition(file)
    except (OSError, UnicodeDecodeError) as e:
        fail(f"{file}: cannot read the file: {e.strerror if isinstance(e, OSError) else e}")
    try:
        result = run_local(definition, read_text_arg(input, "--input"), execution_name=name,
                           state_machine_type=machine_type.upper())
    except InvalidDefinition as e:
        fail(f"{file}: {e.message}")
    except InvalidExecutionInput as e:
        fail(f"--input: {e}")
    typer.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    raise typer.Exit(0 if result["status"] == "SUCCEEDED" else 1)
