"""CLI command: ``eventbus test-pattern``, EventBridge's TestEventPattern on the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from eventbus.cli.app import app, fail, read_json_arg, read_text_arg


@app.command("test-pattern")
def test_pattern(
    pattern: Annotated[
        str, typer.Option("--pattern", "-p", help="The event pattern: inline JSON, a file, or -.")
    ],
    event: Annotated[
        str, typer.Option("--event", "-e", help="The event: inline JSON, a file, or -.")
    ],
    explain: Annotated[
        bool, typer.Option("--explain", help="On no match, say on stderr which field failed.")
    ] = False,
) -> None:
    """Print true (exit 0) if EVENT matches PATTERN, false (exit 1) if not.

    The event needs id, account, source, time, region and detail-type, as TestEventPattern
    requires. An invalid pattern or event, or an event that takes more matcher steps than
    EVENTBUS_MATCH_BUDGET, is reported on stderr with exit code 2.
    """
    from eventbus.errors import InvalidEventError, InvalidPatternError, MatchBudgetExceededError
    from eventbus.events import check_test_event
    from eventbus.patterns import compile_pattern

    try:
        compiled = compile_pattern(read_text_arg(pattern, "pattern"))
    except InvalidPatternError as e:
        where = f" (at {e.path})" if e.path else ""
        fail(f"Event pattern is not valid{where}. Reason: {e.reason}")
    try:
        document = check_test_event(read_json_arg(event, "event"))
    except InvalidEventError as e:
        fail(f"{e.code}: {e.message}")
    try:
        if compiled.matches(document):
            typer.echo("true")
            return
        reason = compiled.explain(document) if explain else None
    except MatchBudgetExceededError as e:
        fail(f"MATCH_BUDGET_EXCEEDED: {e}")
    if reason is not None:
        typer.echo(reason, err=True)
    typer.echo("false")
    raise typer.Exit(1)
