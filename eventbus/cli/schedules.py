"""CLI commands: schedules."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any

import typer

from eventbus.cli.app import REDIS_HELP, fail, schedules_app


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


def _moment(text: str | None, zone: tzinfo, option: str = "--after") -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not an ISO 8601 date and time")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


_RULES_HELP = "A rule file or a directory of them."
# Backfills with more firings than this show a progress bar on standard error.
_PROGRESS_FROM = 500


@schedules_app.command("list")
def list_schedules(
    rules: Annotated[str, typer.Option("--rules", help=_RULES_HELP)] = "rules/",
    after: Annotated[
        str | None, typer.Option("--after", help="ISO 8601 moment (default now) to count from.")
    ] = None,
) -> None:
    """Print each schedule rule: BUS/RULE, expression, zone, state and its next three firings."""
    ruleset = _load(rules)
    rows = [("RULE", "EXPRESSION", "ZONE", "STATE", "NEXT FIRINGS")]
    for bus in ruleset.buses.values():
        for rule in bus.rules.values():
            if rule.schedule is None:
                continue
            moment = _moment(after, rule.schedule.zone)
            upcoming = ", ".join(f.isoformat() for f in rule.schedule.upcoming(moment, 3))
            name = f"{rule.bus}/{rule.name}"
            rows.append(
                (
                    name,
                    rule.schedule.expression,
                    rule.schedule.timezone,
                    rule.model.state,
                    upcoming or "-",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)]
        typer.echo("  ".join([*cells, row[4]]))


@schedules_app.command("backfill")
def backfill_schedule(
    rule: Annotated[str, typer.Argument(help="[BUS/]RULE; the bus defaults to 'default'.")],
    start: Annotated[str, typer.Option("--from", help="First moment, ISO 8601 (inclusive).")],
    end: Annotated[str, typer.Option("--to", help="Last moment, ISO 8601 (inclusive).")],
    rules: Annotated[str, typer.Option("--rules", help=_RULES_HELP)] = "rules/",
    redis_url: Annotated[str | None, typer.Option("--redis", help=REDIS_HELP)] = None,
) -> None:
    """Make every firing of RULE between --from and --to that was not made yet.

    Each event carries its scheduled time; firings already made (live or by an earlier
    backfill) are skipped, so running it twice makes nothing new. Moments without an offset
    are read in the rule's zone. Prints {"rule", "firings", "fired", "skipped"} as JSON.
    """
    import asyncio

    import orjson

    from eventbus.connection import resolve_redis_url

    loaded, bus_rules = _schedule_rule(_load(rules), rule)
    zone = loaded.schedule.zone
    first, last = _moment(start, zone, "--from"), _moment(end, zone, "--to")
    if last < first:
        fail(f"--to {end} is before --from {start}")
    if last > datetime.now(UTC):
        fail(f"--to {end} is in the future: a backfill makes past firings, `eventbus run` the rest")
    url = resolve_redis_url(redis_url)
    result = asyncio.run(_backfill(url, loaded, bus_rules, first, last))
    summary = {
        "rule": f"{loaded.bus}/{loaded.name}",
        "firings": result.total,
        "fired": result.fired,
        "skipped": result.total - result.fired,
    }
    typer.echo(orjson.dumps(summary).decode())


def _load(rules: str) -> Any:
    from eventbus.config import load_rules
    from eventbus.errors import RuleFileError

    try:
        return load_rules(rules)
    except RuleFileError as e:
        fail(f"invalid rules:\n{e}")


def _schedule_rule(ruleset: Any, ref: str) -> tuple[Any, Any]:
    """The schedule rule named ``[BUS/]RULE`` and its bus; exit 2 naming what is wrong."""
    from eventbus.settings import DEFAULT_BUS

    bus, _, name = ref.rpartition("/")
    bus = bus or DEFAULT_BUS
    try:
        rule = ruleset.rule(bus, name)
    except KeyError:
        fail(f"no rule {name!r} on bus {bus!r} in the rule files")
    if rule.schedule is None:
        fail(f"rule {bus}/{name} has no schedule_expression")
    return rule, ruleset.buses[bus]


async def _backfill(url: str, rule: Any, bus_rules: Any, first: datetime, last: datetime) -> Any:
    from redis.asyncio import Redis
    from rich.console import Console
    from rich.progress import Progress

    from eventbus.schedule.firing import firings_between
    from eventbus.scheduler import backfill

    total = sum(1 for _ in firings_between(rule.schedule, first, last, inclusive=True))
    redis = Redis.from_url(url)
    progress = Progress(console=Console(stderr=True), disable=total <= _PROGRESS_FROM)
    try:
        with progress:
            task = progress.add_task(f"backfilling {rule.bus}/{rule.name}", total=total)
            return await backfill(
                redis,
                rule,
                bus_rules,
                first,
                last,
                progress=lambda n: progress.advance(task, n),
            )
    finally:
        await redis.aclose()
