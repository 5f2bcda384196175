"""CLI commands: ``eventbus rules validate [DIR]`` (the workflow files too) and
``eventbus rules schema``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eventbus.cli.app import fail, rules_app
from eventbus.cli.runtime import WORKFLOWS_HELP


@rules_app.command("validate")
def validate(
    path: Annotated[
        Path | None,
        typer.Argument(help="A rule file, or a directory searched for *.yaml / *.yml."),
    ] = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="The same as PATH, as other commands take it.")
    ] = None,
    workflows: Annotated[
        Path | None, typer.Option("--workflows", help=WORKFLOWS_HELP)
    ] = None,
) -> None:
    """Check rule files and workflow files; print every problem, one per line:
    file:line: rule: field: message.

    The rules are PATH or --rules (default rules/); the workflows are --workflows (default the
    workflows/ directory beside the rules, when there is one), each state machine checked as
    Step Functions checks a definition. Exits 0 when every rule and state machine is valid
    (warnings, marked `warning:`, are printed too), 1 when an error was found, 2 when a path does
    not exist or both PATH and --rules are given.
    """
    from eventbus.errors import RuleFileError
    from eventbus.rule_watch import load_rules_and_workflows
    from eventbus.workflows.catalog import workflows_beside

    if path is not None and rules is not None and path != rules:
        fail(f"give the rules once: PATH {path} or --rules {rules}")
    path = path or rules or Path("rules")
    for given in (path, workflows):
        if given is not None and not given.exists():
            fail(f"{given}: no such file or directory")
    workflows = workflows or workflows_beside(path)
    try:
        ruleset, catalog = load_rules_and_workflows(path, workflows)
    except RuleFileError as e:
        found = sorted([*e.problems, *e.warnings], key=lambda p: (p.file, p.line or 0))
        for problem in found:
            typer.echo(str(problem))
        warnings = f" and {len(e.warnings)} warning(s)" if e.warnings else ""
        typer.echo(f"{len(e.problems)} problem(s){warnings} found", err=True)
        raise typer.Exit(1) from None
    found = sorted([*ruleset.warnings, *catalog.warnings], key=lambda p: (p.file, p.line or 0))
    for warning in found:
        typer.echo(str(warning))
    count = sum(len(bus.rules) for bus in ruleset.buses.values())
    machines = f", {len(catalog)} workflow(s)" if workflows is not None else ""
    connections = f", {len(ruleset.connections)} connection(s)" if ruleset.connections else ""
    warnings = f", {len(found)} warning(s)" if found else ""
    typer.echo(
        f"ok: {count} rule(s) on {len(ruleset.buses)} bus(es){connections}{machines}{warnings}"
    )


@rules_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of a rule file, for editors to complete and check rule files."""
    import orjson

    from eventbus.config import rule_file_schema

    typer.echo(orjson.dumps(rule_file_schema(), option=orjson.OPT_INDENT_2).decode())
