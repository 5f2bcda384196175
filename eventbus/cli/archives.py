"""CLI commands: archives (declared in rule files; their events read from Redis)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from eventbus.cli.app import REDIS_HELP, archives_app, fail, read_json_arg

if TYPE_CHECKING:
    from eventbus.archives import Archive

_RULES_HELP = "Rule file or directory declaring the archives."
RulesOption = Annotated[str, typer.Option("--rules", help=_RULES_HELP)]
RedisOption = Annotated[str | None, typer.Option("--redis", help=REDIS_HELP)]


@archives_app.command("list")
def list_archives(rules: RulesOption = "rules/", redis_url: RedisOption = None) -> None:
    """Print each archive as a JSON line: name, bus, events and bytes (exact)."""
    archives = _archives(rules)
    for line in _run(redis_url, _described, list(archives.values())):
        typer.echo(line)


@archives_app.command("describe")
def describe_archive(
    name: Annotated[str, typer.Argument(help="The archive's name.")],
    rules: RulesOption = "rules/",
    redis_url: RedisOption = None,
) -> None:
    """Print one archive as JSON: its declaration, events and bytes (exact)."""
    archive = _archives(rules).get(name)
    if archive is None:
        fail(f"no archive named {name!r} in {rules}", 1)
    [line] = _run(redis_url, _described, [archive])
    typer.echo(line)


@archives_app.command("query")
def query_archive(
    archive_name: Annotated[str, typer.Option("--archive", help="The archive to read.")],
    pattern: Annotated[
        str | None, typer.Option("--pattern", help="Event pattern (JSON, a file, or -).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="ISO 8601; default: the start.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO 8601; default: now.")] = None,
    rules: RulesOption = "rules/",
    redis_url: RedisOption = None,
) -> None:
    """Print the archived events (event time in [--from, --to]) matching --pattern, as JSON
    lines in event-time order."""
    from eventbus.errors import InvalidPatternError
    from eventbus.patterns import compile_pattern

    archive = _archives(rules).get(archive_name)
    if archive is None:
        fail(f"no archive named {archive_name!r} in {rules}", 1)
    compiled = None
    if pattern is not None:
        try:
            compiled = compile_pattern(read_json_arg(pattern, "--pattern"))
        except InvalidPatternError as e:
            fail(f"invalid --pattern: {e}")
    first = _ms(start, "--from") if start else 0
    last = _ms(end, "--to") if end else int(datetime.now(UTC).timestamp() * 1000)
    for line in _run(redis_url, _query, archive, compiled, first, last):
        typer.echo(line)


def _archives(rules: str) -> dict[str, Archive]:
    from eventbus.config import load_rules
    from eventbus.errors import RuleFileError

    try:
        return load_rules(rules).archives
    except RuleFileError as e:
        fail(f"invalid rules:\n{e}")


def _ms(text: str, option: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not an ISO 8601 moment")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _run(redis_url: str | None, job: Any, *args: Any) -> list[str]:
    import asyncio

    from redis.asyncio import Redis

    from eventbus.connection import resolve_redis_url

    async def main() -> list[str]:
        redis = Redis.from_url(resolve_redis_url(redis_url))
        try:
            lines: list[str] = await job(redis, *args)
            return lines
        finally:
            await redis.aclose()

    return asyncio.run(main())


async def _described(redis: Any, archives: list[Archive]) -> list[str]:
    import orjson

    from eventbus.archives.store import stats

    lines = []
    for a in archives:
        counted = await stats(redis, a)
        pattern = a.pattern.source if a.pattern is not None else None
        lines.append(orjson.dumps({
            "name": a.name, "bus": a.bus, "description": a.description, "event_pattern": pattern,
            "retention_days": a.retention_days, "file": a.source, "events": counted.events,
            "size_bytes": counted.size_bytes,
        }).decode())  # fmt: skip
    return lines


async def _query(redis: Any, archive: Archive, pattern: Any, first: int, last: int) -> list[str]:
    import orjson

    from eventbus.archives.store import read_window

    return [orjson.dumps(event).decode()
            async for event in read_window(redis, archive, first, last)
            if pattern is None or pattern.matches(event)]  # fmt: skip
