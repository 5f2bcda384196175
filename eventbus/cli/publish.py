"""CLI commands: publishing (``eventbus put``) and the embedded Redis (``eventbus embedded``)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import orjson
import typer

from eventbus.cli.app import REDIS_HELP, app, embedded_app, fail, read_text_arg

# `put --file` sends a large file in batches of this many entries, so memory stays bounded.
PUT_BATCH = 500



@app.command("put")
def put(
    source: str | None = typer.Option(None, "--source", help="The event's Source."),
    detail_type: str | None = typer.Option(None, "--detail-type", help="The event's DetailType."),
    detail: str | None = typer.Option(
        None, "--detail", help="The Detail, a JSON object: inline, a file, or -."
    ),
    bus: str = typer.Option("default", "--bus", help="The bus: a name or an event-bus ARN."),
    resources: Annotated[
        list[str] | None, typer.Option("--resources", help="A resource ARN; repeat for several.")
    ] = None,
    time: str | None = typer.Option(None, "--time", help="The event's time (RFC 3339)."),
    idempotency_key: str | None = typer.Option(
        None, "--idempotency-key", help="Not published again when seen on the bus within 5 min."
    ),
    file: str | None = typer.Option(
        None, "--file", help="JSON Lines of PutEvents entries instead of one entry; - for stdin."
    ),
    redis_url: str | None = typer.Option(None, "--redis", help=REDIS_HELP),
) -> None:
    """Publish events and print the PutEvents result as one JSON object.

    Either one entry (--source, --detail-type, --detail, ...) or --file with one PutEvents entry
    per line (its Detail an object or JSON text). Exit 0 when every entry was published, 1 when
    any failed, 2 on a usage, file or JSON error. A bus no router has registered draws a warning
    on standard error (the events are published all the same).
    """
    single = (source, detail_type, detail, resources, time, idempotency_key)
    if file is not None:
        if any(v is not None for v in single) or bus != "default":
            fail("--file takes the entries from the file: give no other entry option")
        entries: list[Any] = _file_entries(file)
    else:
        entries = [_entry(source, detail_type, detail, bus, resources, time, idempotency_key)]
    if not entries:
        fail(f"no entries in {file}")
    result = _publish(entries, redis_url)
    typer.echo(orjson.dumps(result).decode())
    if result["FailedEntryCount"]:
        raise typer.Exit(1)


def _entry(
    source: str | None,
    detail_type: str | None,
    detail: str | None,
    bus: str,
    resources: list[str] | None,
    time: str | None,
    idempotency_key: str | None,
) -> dict[str, Any]:
    if source is None or detail_type is None or detail is None:
        fail("--source, --detail-type and --detail are required (or --file)")
    detail_text = read_text_arg(detail, "--detail")
    try:
        orjson.loads(detail_text)
    except orjson.JSONDecodeError as e:
        fail(f"--detail is not valid JSON: {e}")
    optional = {"Resources": resources, "Time": time, "IdempotencyKey": idempotency_key}
    entry = {"Source": source, "DetailType": detail_type, "Detail": detail_text}
    return entry | {"EventBusName": bus} | {k: v for k, v in optional.items() if v is not None}


def _file_entries(file: str) -> list[Any]:
    """The entries of a JSON Lines file (blank lines skipped), all read before any is published
    so that a line that is not JSON (exit 2) publishes nothing."""
    name = "stdin" if file == "-" else file
    try:
        stream = sys.stdin if file == "-" else open(file, encoding="utf-8")  # noqa: SIM115
        with stream:
            lines = list(stream)
    except (OSError, UnicodeDecodeError) as e:
        fail(f"--file {file}: {getattr(e, 'strerror', None) or e}")
    return [_parse_line(t, f"{name}:{n}") for n, t in enumerate(lines, start=1) if t.strip()]


def _parse_line(line: str, where: str) -> Any:
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        fail(f"{where}: not valid JSON: {e}")
    # PutEvents wants Detail as JSON text; a file may hold it as an object for readability.
    if isinstance(entry, dict) and isinstance(entry.get("Detail"), dict | list):
        entry["Detail"] = orjson.dumps(entry["Detail"]).decode()
    return entry


def _publish(entries: Iterable[dict[str, Any]], redis_url: str | None) -> dict[str, Any]:
    from eventbus import bus
    from eventbus.client import EventBusClient
    from eventbus.connection import connect, resolve_redis_url
    from eventbus.errors import BusError
    from eventbus.settings import DEFAULT_BUS

    results: list[dict[str, str]] = []
    buses: set[str] = set()
    redis_client = connect(resolve_redis_url(redis_url))
    with EventBusClient(redis_client, owned=True) as client:
        try:
            for batch in _batches(entries, PUT_BATCH):
                answers = client.put_events(batch)["Entries"]
                results += answers
                buses.update(_published_buses(batch, answers))
            # The default bus always exists, as in EventBridge; only a named bus can be a typo.
            named = buses - {DEFAULT_BUS}
            unknown = sorted(named - set(bus.run(redis_client, bus.list_buses()))) if named else []
        except BusError as e:
            fail(str(e), code=1)
    for name in unknown:
        # Nothing reads a bus no router has registered: a typo would wait in a stream forever.
        typer.echo(
            f"warning: bus {name!r} is not registered: no router has loaded rules for it, "
            "so nothing reads its events yet (check the name, or the rule files' `bus:`)",
            err=True,
        )
    return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def _published_buses(batch: list[dict[str, Any]], answers: list[dict[str, str]]) -> set[str]:
    """The buses the entries that were published went to."""
    from eventbus.errors import InvalidEventError
    from eventbus.events import resolve_bus_name
    from eventbus.settings import DEFAULT_BUS

    found = set()
    for entry, answer in zip(batch, answers, strict=True):
        if "ErrorCode" in answer or not isinstance(entry, dict):
            continue
        try:
            found.add(resolve_bus_name(entry.get("EventBusName") or DEFAULT_BUS))
        except InvalidEventError:
            continue
    return found


def _batches(entries: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@embedded_app.command("stop")
def embedded_stop() -> None:
    """Stop the embedded Redis of this directory; its data stays in ./.eventbus/ for next time."""
    from eventbus import embedded

    stopped = embedded.stop()
    if stopped is None:
        typer.echo(f"no embedded Redis is running in {embedded.embedded_dir()}")
    else:
        typer.echo(f"stopped the embedded Redis (pid {stopped.pid}) in {stopped.directory}")


@embedded_app.command("status")
def embedded_status() -> None:
    """Print the URL of the embedded Redis of this directory; exit 1 when it is not running."""
    from eventbus import embedded

    running = embedded.find()
    if running is None:
        fail(f"no embedded Redis is running in {embedded.embedded_dir()}", code=1)
    typer.echo(running.url)
