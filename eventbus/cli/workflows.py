"""CLI commands: ``eventbus workflows validate FILE...``, ``run FILE`` and ``graph NAME|FILE``.

Each command of the group reads its definitions with ``read_definition``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from eventbus.cli.app import REDIS_HELP, fail, read_json_arg, read_text_arg, workflows_app

if TYPE_CHECKING:
    from eventbus.workflows.graph_canvas import Drawing

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


# --- eventbus workflows graph ------------------------------------------------------------------

def _find_definition(name: str, workflows_dir: Path) -> Path:
    """``name`` as a file, else ``workflows_dir/NAME.asl.json`` (or ``.asl.yaml``, or an
    EXPRESS machine's ``NAME.express.asl.json``); exits 2 saying where it looked when none
    exists."""
    from eventbus.workflows.catalog import EXPRESS_MARK, WORKFLOW_SUFFIXES

    path = Path(name)
    if path.is_file():
        return path
    suffixes = [f"{mark}{s}" for mark in ("", EXPRESS_MARK) for s in WORKFLOW_SUFFIXES]
    for suffix in suffixes:
        candidate = workflows_dir / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(workflows_dir / f"{name}{s}") for s in suffixes)
    fail(f"{name}: no such file, nor a state machine named so (looked for {looked})")


def _load_definition(path: Path) -> dict[str, Any]:
    """The definition in ``path`` as an object, JSON or (for ``.yaml``/``.yml``) YAML; exits 2
    when it cannot be read or is not an object."""
    from eventbus.errors import InvalidDefinition
    from eventbus.workflows.definition import parse_definition
    from eventbus.yaml_load import YamlError, load_yaml

    try:
        text = read_definition(str(path))
        if path.suffix in (".yaml", ".yml"):
            document = load_yaml(text)
            data = document.data if document is not None else None
            if not isinstance(data, dict):
                fail(f"{path}: a definition is a mapping with StartAt and States")
            return data
        return parse_definition(text)
    except (OSError, UnicodeDecodeError) as e:
        fail(f"{path}: cannot read the file: {e}")
    except YamlError as e:
        fail(f"{path}: line {e.line}: {e.message}" if e.line else f"{path}: {e.message}")
    except InvalidDefinition as e:
        fail(f"{path}: {e.message}")


def _history_events(value: Any) -> list[dict[str, Any]]:
    """The events of a history given as a list, or as GetExecutionHistory's answer (or any
    object) with an ``events`` list; exits 2 otherwise."""
    events = value.get("events") if isinstance(value, dict) else value
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        fail("--history: expected a JSON list of history events, or an object with 'events'")
    return events


@workflows_app.command("graph")
def graph(
    name: Annotated[str, typer.Argument(
        help="A definition file, or NAME for NAME.asl.json / NAME.asl.yaml under --workflows "
        "(with --execution, the machine: the definition drawn is the one it started with).")],
    workflows_dir: Annotated[Path, typer.Option(
        "--workflows", help="Where named state machines live.")] = Path("workflows"),
    execution: Annotated[str | None, typer.Option(
        "--execution", help="Mark each state with its status in this stored execution: its "
        "ARN, MACHINE:NAME, or its name alone.")] = None,
    history: Annotated[str | None, typer.Option(
        "--history", help="Mark each state from a history: a list of events or "
        "GetExecutionHistory's answer, as inline JSON, a file, or -.")] = None,
    input: Annotated[str | None, typer.Option(
        "--input", help="Run the machine in-process on this input (inline JSON, a file, or "
        "-), as `workflows run` does, and mark each state from its history.")] = None,
    ascii_only: Annotated[bool, typer.Option("--ascii", help="Draw with ASCII only.")] = False,
    width: Annotated[int | None, typer.Option(
        "--width", help="Above this many columns, list the states as an outline instead "
        "(default: the terminal's width; 0 for no limit).")] = None,
    color: Annotated[bool | None, typer.Option(
        "--color/--no-color", help="Colour the statuses (default: when the output is a "
        "terminal and NO_COLOR is unset).")] = None,
    redis_url: Annotated[str | None, typer.Option("--redis", help=REDIS_HELP)] = None,
) -> None:
    """Draw a state machine, top to bottom; with --execution, --history or --input, each
    state shows its status: ✓ succeeded, ↯ failed and caught, ✗ failed, ▶ running,
    ■ aborted, · not reached."""
    from eventbus.workflows.graph import render_graph
    from eventbus.workflows.graph_status import statuses_from_history

    if sum(option is not None for option in (execution, history, input)) > 1:
        fail("give one of --execution, --history and --input")
    statuses = None
    if execution is not None:
        # The execution's own definition: its file may have changed since it started, and a
        # machine created over the API has no file.
        from eventbus.cli.workflow_executions import stored_run
        from eventbus.workflows.definition import parse_definition

        text, events = stored_run(execution, Path(name).name.split(".")[0], redis_url)
        definition = parse_definition(text)
        statuses = statuses_from_history(events)
    else:
        definition = _load_definition(_find_definition(name, workflows_dir))
    if history is not None:
        statuses = statuses_from_history(_history_events(read_json_arg(history, "--history")))
    elif input is not None:
        statuses = statuses_from_history(_run_locally(definition, input))
    if width is None and sys.stdout.isatty():
        width = shutil.get_terminal_size().columns
    drawing = render_graph(definition, statuses, ascii=ascii_only, max_width=width or None)
    _print_drawing(drawing, color)


def _run_locally(definition: dict[str, Any], input: str) -> list[dict[str, Any]]:
    """The history of ``definition`` run in-process on ``input``; exits 2 when either is
    invalid."""
    from eventbus.errors import InvalidDefinition, InvalidExecutionInput
    from eventbus.workflows import run_local

    try:
        result = run_local(orjson.dumps(definition).decode(), read_text_arg(input, "--input"))
    except InvalidDefinition as e:
        fail(e.message)
    except InvalidExecutionInput as e:
        fail(f"--input: {e}")
    events: list[dict[str, Any]] = result["events"]
    return events


def _print_drawing(drawing: Drawing, color: bool | None) -> None:
    """Print ``drawing`` with its colours through rich, which leaves them out where the
    output cannot show them (or when ``color`` is False)."""
    from rich.console import Console
    from rich.text import Text

    console = Console(no_color=color is False, force_terminal=color or None,
                      highlight=False, soft_wrap=True)
    lines = [Text(line) for line in drawing.lines]
    for run in drawing.styles:
        lines[run.row].stylize(run.style, run.start, run.end)
    for line in lines:
        console.print(line)
