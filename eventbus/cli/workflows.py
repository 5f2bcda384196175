"""CLI commands: ``eventbus workflows`` (Amazon States Language state machines)."""

from __future__ import annotations

import sys

import orjson
import typer

from eventbus.cli.app import app, fail, read_text_arg

workflows_app = typer.Typer(
    help="Validate and run Amazon States Language state machines.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(workflows_app, name="workflows")


@workflows_app.command("run")
def run(
    file: str = typer.Argument(..., help="The state machine definition (ASL JSON), or -."),
    input: str = typer.Option(
        "{}", "--input", help="The execution input: inline JSON, a file, or -."
    ),
    state_machine_type: str = typer.Option("STANDARD", "--type", help="STANDARD or EXPRESS."),
    name: str | None = typer.Option(None, "--name", help="The execution name."),
) -> None:
    """Run a state machine to its end in-process and print the result as JSON.

    Wait states do not sleep (the clock is virtual); Task states fail with States.TaskFailed,
    as no task is registered. Exit 0 when the execution succeeded, 1 otherwise, 2 when the
    definition or the input is invalid.
    """
    from eventbus.errors import InvalidDefinition, InvalidExecutionInput
    from eventbus.workflows import run_local

    definition = sys.stdin.read() if file == "-" else _read_file(file)
    try:
        result = run_local(definition, read_text_arg(input, "--input"),
                           execution_name=name, state_machine_type=state_machine_type)
    except InvalidDefinition as err:
        fail(f"{file}: {err.message}")
    except InvalidExecutionInput as err:
        fail(f"--input: {err}")
    typer.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    raise typer.Exit(0 if result["status"] == "SUCCEEDED" else 1)


def _read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as err:
        fail(f"{path}: {err.strerror}")
