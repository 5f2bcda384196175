"""CLI commands: schedules."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Annotated

import typer

from eventbus.cli.app import fail, schedules_app


@schedules_app.command("next")
def next_firings(
    expression: Annotated[str, typer.Argument(help='e.g. "cron(0 9 ? * MON-FRI *)"')],
    n: Annotated[int, typer.Option("-n", min=1, help="How many firings to print.")] = 5,
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone of the schedule.")] = "UTC",
    after: Annotated[
        str | None,
        typer.Option("--after", help="ISO 8601 moment (default now); without offset: in --tz."),
    ] = None,
) -> None:
    """Print the next N firings strictly after --after, one ISO 8601 line each, in the zone."""
    from eventbus.errors import InvalidScheduleError
    from eventbus.schedule import parse_schedule

    try:
        schedule = parse_schedule(expression, tz)
    except InvalidScheduleError as e:
        fail(f"invalid schedule: {e}")
    moment = _moment(after, schedule.zone)
    for firing in schedule.upcoming(moment, n):
        typer.echo(firing.isoformat())


def _moment(text: str | None, zone: tzinfo) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--after {text!r} is not an ISO 8601 date and time")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
