"""CLI commands on durable executions, through the ``Executions`` API: ``eventbus workflows
start``, ``list``, ``describe``, ``history``, ``stop`` and ``redrive``; ``graph --execution``
reads its definition and history with :func:`stored_run`.

Answers are printed as JSON in the Step Functions API's shapes (dates in ISO 8601). Exit codes:
0 done, 1 an execution or state machine that does not exist (or exists already, for ``start``;
cannot be redriven, for ``redrive``) or Redis unreachable, 2 bad usage or input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer

from eventbus.cli.app import REDIS_HELP, fail, read_text_arg, workflows_app

if TYPE_CHECKING:
    from eventbus.workflows.executions import Executions

__all__ = ["execution_arn", "stored_history", "stored_run"]

T = TypeVar("T")
EXECUTION_HELP = "An execution ARN, or MACHINE:NAME."
Redis = Annotated[str | None, typer.Option("--redis", help=REDIS_HELP)]
Execution = Annotated[str, typer.Argument(help=EXECUTION_HELP)]


def execution_arn(text: str, machine: str | None = None) -> str:
    """The ARN of an execution given as its ARN, ``MACHINE:NAME``, or (with ``machine``) its
    name alone; names hold no ``:``, so the forms cannot be confused."""
    from eventbus.workflows.arns import execution_arn as arn_of

    if text.startswith("arn:"):
        return text
    if ":" not in text and machine is not None:
        text = f"{machine}:{text}"
    machine_name, _, name = text.partition(":")
    if not machine_name or not name or ":" in name:
        fail(f"{text}: give an execution ARN, or MACHINE:NAME")
    return arn_of(machine_name, name)


def _call(redis_url: str | None, definitions: Mapping[str, str],
          action: Callable[[Executions], Awaitable[T]]) -> T:
    """``action`` on an ``Executions`` of the Redis at ``redis_url``, errors as exit codes."""
    from redis.exceptions import RedisError

    from eventbus.connection import connect_async, resolve_redis_url
    from eventbus.errors import (
        ExecutionAlreadyExists,
        ExecutionDoesNotExist,
        ExecutionNotRedrivable,
        InvalidExecutionInput,
        RequestRejected,
        StateMachineDoesNotExist,
    )
    from eventbus.workflows.executions import Executions

    url = resolve_redis_url(redis_url)

    async def run() -> T:
        redis = connect_async(url)
        try:
            return await action(Executions(redis, definitions))
        finally:
            await redis.aclose()

    try:
        return asyncio.run(run())
    except (ExecutionDoesNotExist, StateMachineDoesNotExist, ExecutionAlreadyExists,
            ExecutionNotRedrivable) as e:
        fail(e.message, 1)
    except (RequestRejected, InvalidExecutionInput) as e:
        fail(str(e))
    except (RedisError, OSError) as e:
        fail(f"Redis at {url}: {e}", 1)


def _print(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@workflows_app.command("start")
def start(
    name: Annotated[str, typer.Argument(help="The state machine: workflows/NAME.asl.json.")],
    input: Annotated[str, typer.Option(
        "--input", help="The execution input: inline JSON, a file, or -.")] = "{}",
    execution_name: Annotated[str | None, typer.Option(
        "--name", help="The execution's name (default a UUID); starting again with the same "
        "name and input while it runs answers the same execution.")] = None,
    workflows_dir: Annotated[Path, typer.Option(
        "--workflows", help="The workflow files.")] = Path("workflows"),
    sync: Annotated[bool, typer.Option(
        "--sync", help="EXPRESS machines: run it here to its end, as StartSyncExecution, and "
        "print its result; exit 1 unless it succeeded.")] = False,
    tasks: Annotated[str | None, typer.Option(
        "--tasks", help="With --sync: module:NAME of a mapping of Task Resource to Python "
        "callable.")] = None,
    redis_url: Redis = None,
) -> None:
    """Start an execution of a state machine of the workflow files, or of one created over the
    Step Functions API: a STANDARD machine's is durable, an EXPRESS one's is queued (both run by
    the workflow workers of `eventbus run` or `eventbus workflows worker`); print its ARN and
    start date. With --sync, an EXPRESS machine's runs here."""
    from eventbus.errors import WorkflowFileError
    from eventbus.settings import get_settings
    from eventbus.workflows.catalog import WorkflowCatalog, load_workflows
    from eventbus.workflows.registry import machines
    from eventbus.workflows.worker import load_tasks

    try:
        catalog = load_workflows(workflows_dir) if workflows_dir.exists() else WorkflowCatalog()
        registry = load_tasks(tasks) if tasks else None
    except WorkflowFileError as e:
        fail(f"invalid workflows:\n{e}")
    except ValueError as e:
        fail(str(e))
    text = read_text_arg(input, "--input")
    definitions: dict[str, str] = {}

    async def started(api: Executions) -> dict[str, Any]:
        # A file's machine hides one created over the API with the same name, as in the API.
        stored = await machines(api.redis, get_settings().account).all()
        definitions.update({m.name: m.definition for m in stored})
        definitions.update({m.name: m.text for m in catalog})
        typed = {m.name: (m.type, m.definition) for m in stored}
        typed |= {m.name: (m.type, m.text) for m in catalog}
        if sync or typed.get(name, ("STANDARD", ""))[0] == "EXPRESS":
            return await _start_express(api.redis, typed, name, text, execution_name,
                                        sync=sync, tasks=registry)
        return await api.start_execution(name, text, execution_name)

    answer = _call(redis_url, definitions, started)
    _print(answer)
    if sync and answer["status"] != "SUCCEEDED":
        raise typer.Exit(1)


async def _start_express(redis: Any, machines: dict[str, tuple[str, str]], name: str,
                         text: str, execution_name: str | None, *, sync: bool,
                         tasks: Mapping[str, Any] | None) -> dict[str, Any]:
    """Queue an Express execution, or (``sync``) run it in this process with the tasks a
    worker has: targets, the AWS integrations, and ``tasks``."""
    from eventbus.client import AsyncEventBusClient
    from eventbus.targets.base import TargetServices
    from eventbus.workflows.express import ExpressExecutions
    from eventbus.workflows.tasks import TaskResolver

    if not sync:
        return await ExpressExecutions(redis, machines).start_execution(name, text,
                                                                        execution_name)
    services = TargetServices(redis=redis, publish=AsyncEventBusClient(redis).put_events)
    resolver = TaskResolver(services, tasks)
    try:
        return await ExpressExecutions(redis, machines, resolver).start_sync_execution(
            name, text, execution_name)
    finally:
        await resolver.aclose()


@workflows_app.command("list")
def list_executions(
    status: Annotated[str | None, typer.Option(
        "--status", help="Only these: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED.")] = None,
    machine: Annotated[str | None, typer.Option(
        "--state-machine", help="Only this state machine's.")] = None,
    redis_url: Redis = None,
) -> None:
    """List stored executions, newest first, as ListExecutions answers."""
    from eventbus.workflows.executions import STATUSES

    if status is not None and status.upper() not in STATUSES:
        fail(f"--status must be one of {', '.join(STATUSES)}, not {status}")

    async def listed(api: Executions) -> dict[str, Any]:
        names = [machine] if machine else await _stored_machines(api)
        found: list[dict[str, Any]] = []
        for name in names:
            token = None
            while True:
                page = await api.list_executions(name, status_filter=status and status.upper(),
                                                 max_results=1000, next_token=token)
                found += page["executions"]
                token = page.get("nextToken")
                if token is None:
                    break
        found.sort(key=lambda e: e["startDate"], reverse=True)
        return {"executions": found}

    # Listing needs no definition: every machine name is taken, stored executions are read.
    _print(_call(redis_url, _AnyMachine(), listed))


class _AnyMachine(dict[str, str]):
    """Definitions that hold every name (to list executions, which need none)."""

    def __contains__(self, name: object) -> bool:
        return True


async def _stored_machines(api: Executions) -> list[str]:
    """The names of the state machines with stored executions."""
    from eventbus import keys
    from eventbus.workflows.store import text

    names: set[str] = set()
    for p in range(keys.WORKFLOW_PARTITIONS):
        for member in await api.redis.zrange(keys.workflow_index(p), 0, -1):
            names.add(text(member).split(":")[6])  # arn:aws:states:R:A:execution:MACHINE:NAME
    return sorted(names)


@workflows_app.command("describe")
def describe(execution: Execution, redis_url: Redis = None) -> None:
    """Print an execution's status, input, output, error and dates, as DescribeExecution."""
    arn = execution_arn(execution)
    _print(_call(redis_url, {}, lambda api: api.describe_execution(arn)))


async def _all_events(api: Executions, arn: str, reverse: bool) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token = None
    while True:
        page = await api.get_execution_history(arn, max_results=1000, next_token=token,
                                               reverse_order=reverse)
        events += page["events"]
        token = page.get("nextToken")
        if token is None:
            return events


def stored_history(execution: str, redis_url: str | None, *,
                   reverse: bool = False) -> list[dict[str, Any]]:
    """Every event of an execution's history (all pages), oldest first unless ``reverse``."""
    arn = execution_arn(execution)
    return _call(redis_url, {}, lambda api: _all_events(api, arn, reverse))


def stored_run(execution: str, machine: str,
               redis_url: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The definition text an execution started with (the files may have changed since) and
    its history, oldest first; ``execution`` may be its name alone, of ``machine``."""
    from eventbus.workflows.store import load

    arn = execution_arn(execution, machine)

    async def read(api: Executions) -> tuple[str, list[dict[str, Any]]]:
        events = await _all_events(api, arn, False)
        stored = await load(api.redis, arn)
        assert stored is not None  # its history was found
        return stored.definition, events

    return _call(redis_url, {}, read)


@workflows_app.command("history")
def history(
    execution: Execution,
    reverse: Annotated[bool, typer.Option("--reverse", help="Newest event first.")] = False,
    redis_url: Redis = None,
) -> None:
    """Print an execution's event history as GetExecutionHistory answers it (all pages in one
    `events` list), which `eventbus workflows graph --history` reads back."""
    _print({"events": stored_history(execution, redis_url, reverse=reverse)})


@workflows_app.command("stop")
def stop(
    execution: Execution,
    error: Annotated[str | None, typer.Option("--error", help="The error it ends with.")] = None,
    cause: Annotated[str | None, typer.Option("--cause", help="Why it was stopped.")] = None,
    redis_url: Redis = None,
) -> None:
    """Stop a running execution: it ends ABORTED at once, and what it had under way (tasks,
    waits, timers) changes nothing any more. Stopping one that has ended changes nothing."""
    arn = execution_arn(execution)
    _print(_call(redis_url, {}, lambda api: api.stop_execution(arn, error=error, cause=cause)))


@workflows_app.command("redrive")
def redrive(
    execution: Execution,
    client_token: Annotated[str | None, typer.Option(
        "--client-token", help="Redriving again with the same token (within 15 minutes) "
        "redrives once.")] = None,
    redis_url: Redis = None,
) -> None:
    """Redrive a FAILED, TIMED_OUT or ABORTED execution (stopped less than 14 days ago): it runs
    again from the state that did not succeed, with the same ARN and definition; print
    RedriveExecution's answer."""
    arn = execution_arn(execution)
    _print(_call(redis_url, {}, lambda api: api.redrive(arn, client_token)))
