"""CLI commands: transform (``eventbus test-transform``)."""

from __future__ import annotations

import typer

from eventbus.cli.app import app, fail, read_json_arg, read_text_arg


@app.command("test-transform")
def test_transform(
    event: str = typer.Option(..., "--event", help="The event: inline JSON, a file, or -."),
    template: str = typer.Option(
        ..., "--template", help="The input template (text, not JSON): inline, a file, or -."
    ),
    paths: str = typer.Option(
        "{}", "--paths", help="The input paths map: inline JSON, a file, or -."
    ),
    rule_name: str = typer.Option("", "--rule-name", help="For <aws.events.rule-name>/-arn."),
    bus: str = typer.Option("default", "--bus", help="The rule's bus, for its ARN."),
    ingestion_time: str | None = typer.Option(
        None, "--ingestion-time", help="For <aws.events.event.ingestion-time>."
    ),
) -> None:
    """Print what a target would receive from an input transformer, as EventBridge shapes it.

    Exit 2 when the settings are invalid, 1 when this event's values make the output invalid
    (EventBridge drops such a delivery).
    """
    from eventbus.errors import InvalidTransformError
    from eventbus.settings import rule_arn
    from eventbus.transform import InputContext, compile_input_transformer

    event_obj = read_json_arg(event, "--event")
    if not isinstance(event_obj, dict):
        fail("--event must be a JSON object")
    paths_obj = read_json_arg(paths, "--paths")
    template_text = read_text_arg(template, "--template")
    try:
        compiled = compile_input_transformer(paths_obj, template_text)
    except InvalidTransformError as e:
        fail(str(e))
    arn = rule_arn(bus, rule_name) if rule_name else ""
    ctx = InputContext(rule_name=rule_name, rule_arn=arn, ingestion_time=ingestion_time)
    try:
        typer.echo(compiled.render(event_obj, ctx))
    except InvalidTransformError as e:
        fail(str(e), code=1)
