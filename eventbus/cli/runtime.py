"""CLI commands: the router (``eventbus run``) and the dead letters (``eventbus dlq``)."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

import orjson
import typer

from eventbus.cli.app import REDIS_HELP, app, dlq_app, fail, loop_factory
from eventbus.cli.gateway import BODY_TIMEOUT, MAX_CONNECTIONS, MAX_UNVERIFIED_BYTES

if TYPE_CHECKING:
    from eventbus.worker import HttpOptions, Router

_RULES_HELP = "A rule file or a directory of them."
WORKFLOWS_HELP = (
    "A directory of state machines (NAME.asl.json, NAME.asl.yaml); default: the workflows/ "
    "directory beside the rules, when there is one."
)


@app.command("run")
def run(
    rules: str = typer.Option("rules/", "--rules", help=_RULES_HELP),
    workflows: str | None = typer.Option(None, "--workflows", help=WORKFLOWS_HELP),
    redis_url: str | None = typer.Option(None, "--redis", help=REDIS_HELP),
    claim_idle: float = typer.Option(
        30.0, "--claim-idle", min=0.0, help="Take over work another router held this long (s)."
    ),
    concurrency: int = typer.Option(64, "--concurrency", min=1, help="Deliveries per target."),
    consumer: str | None = typer.Option(
        None, "--consumer", help="Consumer name in the groups; default <host>-<pid>."
    ),
    consumer_idle: float = typer.Option(
        3600.0,
        "--consumer-idle",
        min=1.0,
        help="Remove consumers idle this long (s) that hold nothing.",
    ),
    verbose: bool = typer.Option(False, "--verbose", help="Log info lines too, not only problems."),
    no_workflows: bool = typer.Option(
        False, "--no-workflows", help="Do not run workflow executions in this process."
    ),
    http: int | None = typer.Option(
        None, "--http", min=0, max=65535, help="Also serve the HTTP gateway on this port."
    ),
    http_host: str = typer.Option("127.0.0.1", "--http-host", help="The gateway's address."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Accept unsigned requests (loopback addresses only)."
    ),
    credentials: str | None = typer.Option(
        None, "--credentials", help="A file of KEY_ID:SECRET lines the gateway accepts."
    ),
    max_unverified_bytes: int | None = MAX_UNVERIFIED_BYTES,
    body_timeout: float | None = BODY_TIMEOUT,
    max_connections: int | None = MAX_CONNECTIONS,
) -> None:
    """Run a router: read the buses, match the rules, deliver to the targets.

    Any number of routers may share the buses and queues. The state machines of the workflow
    files are checked with the rules. SIGHUP (or editing a rule or workflow file) reloads both;
    SIGTERM finishes or hands back held work and exits 0.
    """
    from eventbus.config import collector_paused
    from eventbus.connection import resolve_redis_url
    from eventbus.errors import RuleFileError
    from eventbus.rule_watch import RuleWatch
    from eventbus.worker import HttpOptions, RouterOptions, configure_logging, run_router
    from eventbus.workflows.catalog import workflows_beside

    configure_logging(verbose)
    # Read before Redis is resolved: a wrong directory must not leave an embedded daemon. The
    # router starts with what was read here rather than reading the files again.
    watch = RuleWatch(rules, workflows=workflows or workflows_beside(rules))
    try:
        # Frozen out of the collector's sight rather than walked by its next passes: the
        # process keeps these rules to its end (a third of a second at 10,000 rules).
        with collector_paused(freeze=True):
            ruleset = watch.load()
    except RuleFileError as e:
        fail(f"{refused(e)}:\n{e}")
    url = resolve_redis_url(redis_url)
    options = RouterOptions(claim_idle=claim_idle, concurrency=concurrency,
                            consumer=consumer or "", consumer_idle=consumer_idle,
                            workflows=not no_workflows)  # fmt: skip
    gateway = None
    if http is not None:
        gateway = HttpOptions(http, http_host, no_auth, credentials, max_unverified_bytes,
                              body_timeout, max_connections)  # fmt: skip
        _check_credentials(gateway)
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            ready = functools.partial(_say_started, url, http_host)
            runner.run(run_router(url, rules, options, http=gateway, ready=ready,
                                  loaded=(watch, ruleset)))
    except RuleFileError as e:
        fail(f"{refused(e)}:\n{e}")
    except OSError as e:  # only the gateway's port raises it: Redis errors are waited out
        fail(f"cannot serve HTTP on {http_host}:{http}: {e}")


def refused(error: Exception) -> str:
    """What a refused load was: rules, or (``WorkflowFileError``) workflows only."""
    from eventbus.errors import WorkflowFileError

    return "invalid workflows" if isinstance(error, WorkflowFileError) else "invalid rules"


def _check_credentials(http: HttpOptions) -> None:
    """Refuse missing keys or ``--no-auth`` off loopback before anything starts."""
    from eventbus.gateway.auth import CredentialsError, resolve_secrets

    try:
        resolve_secrets(http.host, no_auth=http.no_auth, credentials_file=http.credentials_file)
    except CredentialsError as e:
        fail(str(e))


def _say_started(url: str, host: str, router: Router) -> None:
    """One line saying what runs: rules, buses, schedules, Redis, and where the gateway listens
    (the port picked, for ``--http 0``)."""
    workflows = router.workflows if router.rule_watch.workflows_path else None
    summary = startup_summary(router.table.ruleset, url, host, router.gateway_port, workflows)
    typer.echo(f"eventbus: {summary}", err=True)


def startup_summary(
    ruleset: Any, url: str, host: str, port: int | None, workflows: Any = None
) -> str:
    """``N rules on M buses, K schedules[, W workflows], Redis <url>, gateway <url or off>``
    (the workflows counted when a workflow directory is read)."""
    rules = [rule for bus in ruleset.buses.values() for rule in bus.rules.values()]
    enabled = [rule for rule in rules if rule.enabled]
    schedules = sum(1 for rule in enabled if rule.schedule is not None)
    disabled = len(rules) - len(enabled)
    counted = f"{len(rules)} rules" + (f" ({disabled} disabled)" if disabled else "")
    gateway = "off" if port is None else f"http://{host}:{port}"
    machines = "" if workflows is None else f", {len(workflows)} workflows"
    return (f"{counted} on {len(ruleset.buses)} buses, {schedules} schedules{machines}, "
            f"Redis {url}, gateway {gateway}")  # fmt: skip


def _filters(bus: str | None, rule: str | None, target: str | None) -> dict[str, str | None]:
    return {"bus": bus, "rule": rule, "target": target}


def _ruleset(rules: str, *, required: bool) -> Any:
    from eventbus.config import RuleSet, load_rules
    from eventbus.errors import RuleFileError

    try:
        return load_rules(rules)
    except RuleFileError as e:
        if required:
            fail(f"invalid rules:\n{e}")
        typer.echo(f"eventbus: rules not read ({e}); listing bus-level dead letters only", err=True)
        return RuleSet()


_BUS = typer.Option(None, "--bus", help="Only this bus's dead letters.")
_RULE = typer.Option(None, "--rule", help="Only this rule's.")
_TARGET = typer.Option(None, "--target", help="Only this target's (its id).")
_RULES = typer.Option("rules/", "--rules", help=_RULES_HELP)
_REDIS = typer.Option(None, "--redis", help=REDIS_HELP)


@dlq_app.command("list")
def dlq_list(
    rules: str = _RULES,
    redis_url: str | None = _REDIS,
    bus: str | None = _BUS,
    rule: str | None = _RULE,
    target: str | None = _TARGET,
) -> None:
    """Print each dead letter as a JSON line: its stream, its id and its fields."""
    ruleset = _ruleset(rules, required=False)
    asyncio.run(_list(redis_url, ruleset, _filters(bus, rule, target)))


async def _list(redis_url: str | None, ruleset: Any, filters: dict[str, str | None]) -> None:
    from eventbus.delivery import dead_letter_streams, iter_dead_letters

    async with _redis(redis_url) as redis:
        streams = await dead_letter_streams(redis, ruleset)
        async for stream, entry_id, letter in iter_dead_letters(redis, streams, **filters):
            line = {"stream": stream, "id": entry_id.decode(), **letter}
            typer.echo(orjson.dumps(line).decode())


@dlq_app.command("redrive")
def dlq_redrive(
    rules: str = _RULES,
    redis_url: str | None = _REDIS,
    bus: str | None = _BUS,
    rule: str | None = _RULE,
    target: str | None = _TARGET,
) -> None:
    """Send dead letters back to their own rule and target, with a fresh retry budget.

    Each one re-queued is deleted; one whose rule or target no longer exists is kept and
    reported, and the exit code is then 1.
    """
    ruleset = _ruleset(rules, required=True)
    report = asyncio.run(_redrive(redis_url, ruleset, _filters(bus, rule, target)))
    for kept in report.kept:
        typer.echo(f"kept {kept['stream']} {kept['id']}: {kept['reason']}", err=True)
    summary = {"requeued": report.requeued, "kept": len(report.kept)}
    typer.echo(orjson.dumps(summary).decode())
    if report.kept:
        raise typer.Exit(1)


async def _redrive(redis_url: str | None, ruleset: Any, filters: dict[str, str | None]) -> Any:
    from eventbus.delivery import dead_letter_streams, redrive

    async with _redis(redis_url) as redis:
        streams = await dead_letter_streams(redis, ruleset)
        return await redrive(redis, ruleset, streams, **filters)


def _redis(redis_url: str | None) -> Any:
    from redis.asyncio import Redis

    from eventbus.connection import resolve_redis_url

    return Redis.from_url(resolve_redis_url(redis_url))
