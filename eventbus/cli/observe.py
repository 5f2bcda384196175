"""CLI commands: ``eventbus status`` (one screen of what is going on) and ``eventbus tail``
(a stream's entries as JSON lines), so no ``redis-cli`` is needed to see what happens."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Annotated, Any

import orjson
import typer

from eventbus.cli.app import REDIS_HELP, app, fail

_RULES_HELP = "A rule file or a directory of them (for the targets and schedules)."
# How long `tail --follow` waits in one read; Ctrl-C is seen between reads.
_FOLLOW_BLOCK_MS = 1000


@app.command("status")
def status(
    rules: Annotated[str, typer.Option("--rules", help=_RULES_HELP)] = "rules/",
    redis_url: Annotated[str | None, typer.Option("--redis", help=REDIS_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")] = False,
) -> None:
    """Print buses and their backlog, targets (queue, retries, dead letters, last success and
    error), schedules and live routers.

    Last success and last error are what the routers' once-a-second metrics flush recorded.
    Without readable rule files, only the buses and routers are shown.
    """
    from eventbus.config import RuleSet, load_rules
    from eventbus.connection import connect_async, resolve_redis_url
    from eventbus.errors import RuleFileError
    from eventbus.status import read_status

    try:
        ruleset = load_rules(rules)
    except RuleFileError as e:
        typer.echo(f"eventbus: rules not read ({e}); showing buses and routers only", err=True)
        ruleset = RuleSet()
    url = resolve_redis_url(redis_url)

    async def read() -> Any:
        redis = connect_async(url)
        try:
            return await read_status(redis, ruleset, url)
        finally:
            await redis.aclose()

    report = asyncio.run(read())
    if as_json:
        typer.echo(orjson.dumps(asdict(report)).decode())
    else:
        typer.echo(_render(report))


def _render(report: Any) -> str:
    now = report.time
    alive = [r for r in report.routers if r.alive]
    lines = [f"Redis {report.redis_url} (Redis {report.redis_version})", ""]
    lines.append(f"Routers: {len(alive)} alive")
    lines += _table([(r.name, f"last heartbeat {_ago(now, r.last_heartbeat)}",
                      "alive" if r.alive else "gone") for r in report.routers])  # fmt: skip
    lines += ["", "Buses"]
    lines += _table([("BUS", "BACKLOG", "UNREAD", "IN PROGRESS", "ROUTERS")] + [
        (f"{b.name} ({b.partitions} partition{'s' if b.partitions > 1 else ''})",
         f"~{b.backlog}" if b.estimate else str(b.backlog), str(b.unread), str(b.in_progress),
         ", ".join(b.routers) or "-") for b in report.buses])  # fmt: skip
    if any(b.estimate for b in report.buses):
        lines.append("  ~: estimated from the group's last-delivered id (no lag on Redis 6.2)")
    lines += ["", "Targets"]
    lines += _table([("BUS/RULE/TARGET", "TYPE", "STATE", "QUEUE", "RETRIES", "DEAD LETTERS",
                      "LAST SUCCESS", "LAST ERROR")] + [
        (f"{t.bus}/{t.rule}/{t.target}", t.type, t.state, str(t.queue), str(t.retries),
         f"~{t.dead_letters}" if t.dead_letters_estimate else str(t.dead_letters),
         _ago(now, t.last_success), _error(now, t.last_error))
        for t in report.targets])  # fmt: skip
    lines += ["", "Schedules"]
    lines += _table([("BUS/RULE", "EXPRESSION", "ZONE", "STATE", "NEXT FIRING", "LAST FIRED")] + [
        (f"{s.bus}/{s.rule}", s.expression, s.timezone, s.state, s.next_firing or "-",
         _ago(now, s.last_fired)) for s in report.schedules])  # fmt: skip
    return "\n".join(lines)


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    if not rows:
        return ["  (none)"]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]  # fmt: skip


def _ago(now: float, then: float | None) -> str:
    if then is None:
        return "-"
    seconds = max(0, round(now - then))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(then))


def _error(now: float, error: dict[str, Any] | None) -> str:
    if error is None:
        return "-"
    text = error["error"] if len(error["error"]) <= 60 else error["error"][:59] + "…"
    return f"{_ago(now, error['time'])}: {text}"


@app.command("tail")
def tail(
    stream: Annotated[
        str | None, typer.Argument(help="A stream key, e.g. fulfilment.orders.")
    ] = None,
    bus: Annotated[
        str | None, typer.Option("--bus", help="A bus's events instead (all its partitions).")
    ] = None,
    count: Annotated[
        int, typer.Option("-n", "--count", min=0, help="How many of the latest.")
    ] = 10,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Then print new entries as they come (Ctrl-C).")
    ] = False,
    max_entries: Annotated[
        int | None,
        typer.Option("--max-entries", min=1, help="Exit once this many were printed (scripts)."),
    ] = None,
    redis_url: Annotated[str | None, typer.Option("--redis", help=REDIS_HELP)] = None,
) -> None:
    """Print a stream's latest entries as JSON lines: {"stream", "id", its fields...}; with
    --bus, {"stream", "id", "event"} with the event as a JSON object.

    Exit 2 when neither or both of STREAM and --bus are given, or STREAM is not a stream.
    """
    from eventbus import bus as bus_ops
    from eventbus import keys
    from eventbus.connection import connect, resolve_redis_url

    if (stream is None) == (bus is None):
        fail("give a STREAM or --bus BUS (one of them)")
    redis = connect(resolve_redis_url(redis_url))
    if bus is not None:
        config = bus_ops.run(redis, bus_ops.read_bus_config(bus))
        streams = keys.bus_streams(bus, int(config.get("partitions", 1)))
    else:
        assert stream is not None
        kind = redis.type(stream)
        if kind not in ("stream", "none"):
            fail(f"{stream} is a Redis {kind!s}, not a stream")
        streams = [stream]
    events = bus is not None
    printed, positions = _print_latest(redis, streams, count, events, max_entries)
    if follow and (max_entries is None or printed < max_entries):
        left = None if max_entries is None else max_entries - printed
        with contextlib.suppress(KeyboardInterrupt):
            _follow(redis, positions, events, left)
    redis.close()


def _print_latest(
    redis: Any, streams: list[str], count: int, events: bool, limit: int | None
) -> tuple[int, dict[str, str]]:
    """Print the ``count`` latest entries over ``streams`` (at most ``limit``), oldest first;
    how many were printed, and where each stream is."""
    positions: dict[str, str] = {}
    latest: list[tuple[tuple[int, int], str, str, dict[str, str]]] = []
    for name in streams:
        entries = redis.xrevrange(name, count=max(count, 1))
        positions[name] = entries[0][0] if entries else "0-0"
        latest += [(_order(entry_id), name, entry_id, fields) for entry_id, fields in entries]
    shown = sorted(latest)[-count:][:limit] if count else []
    for _, name, entry_id, fields in shown:
        _echo(name, entry_id, fields, events)
    return len(shown), positions


def _follow(redis: Any, positions: dict[str, str], events: bool, left: int | None) -> None:
    """Print new entries as they come, until ``left`` more were printed (None: until Ctrl-C)."""
    while left is None or left > 0:
        reply = redis.xread(positions, block=_FOLLOW_BLOCK_MS, count=left)
        for name, entries in reply or []:
            for entry_id, fields in entries:
                if left is not None and left <= 0:
                    return
                _echo(name, entry_id, fields, events)
                positions[name] = entry_id
                left = None if left is None else left - 1


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _echo(stream: str, entry_id: str, fields: dict[str, str], events: bool) -> None:
    line: dict[str, Any] = {"stream": stream, "id": entry_id}
    if events and "event" in fields:
        line["event"] = orjson.loads(fields["event"])
    else:
        line.update(fields)
    typer.echo(orjson.dumps(line).decode())
