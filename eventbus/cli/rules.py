"""CLI commands: ``eventbus rules validate [DIR]`` and ``eventbus rules schema``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eventbus.cli.app import fail, rules_app


@rules_app.command("validate")
def validate(
    path: Annotated[
        Path | None,
        typer.Argument(help="A rule file, or a directory searched for *.yaml / *.yml."),
    ] = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="The same as PATH, as other commands take it.")
    ] = None,
) -> None:
    """Check rule files; print every problem, one per line: file:line: rule: field: message.

    The rules are PATH or --rules (default rules/). Exits 0 when every rule is valid (warnings,
    marked `warning:`, are printed too), 1 when an error was found, 2 when the path does not exist
    or both are given.
    """
    from eventbus.config import load_rules
    from eventbus.errors import RuleFileError

    if path is not None and rules is not None and path != rules:
        fail(f"give the rules once: PATH {path} or --rules {rules}")
    path = path or rules or Path("rules")
    if not path.exists():
        fail(f"{path}: no such file or directory")
    try:
        ruleset = load_rules(path)
    except RuleFileError as e:
        found = sorted([*e.problems, *e.warnings], key=lambda p: (p.file, p.line or 0))
        for problem in found:
            typer.echo(str(problem))
        warnings = f" and {len(e.warnings)} warning(s)" if e.warnings else ""
        typer.echo(f"{len(e.problems)} problem(s){warnings} found", err=True)
        raise typer.Exit(1) from None
    for warning in ruleset.warnings:
        typer.echo(str(warning))
    count = sum(len(bus.rules) for bus in ruleset.buses.values())
    warnings = f", {len(ruleset.warnings)} warning(s)" if ruleset.warnings else ""
    connections = f", {len(ruleset.connections)} connection(s)" if ruleset.connections else ""
    typer.echo(f"ok: {count} rule(s) on {len(ruleset.buses)} bus(es){connections}{warnings}")


@rules_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of a rule file, for editors to complete and check rule files."""
    import orjson

    from eventbus.config import rule_file_schema

    typer.echo(orjson.dumps(rule_file_schema(), option=orjson.OPT_INDENT_2).decode())
