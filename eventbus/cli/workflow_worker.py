"""CLI command: ``eventbus workflows worker``, a worker of durable executions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from eventbus.cli.app import REDIS_HELP, fail, loop_factory, workflows_app

__all__ = ["RETENTION_DAYS", "worker"]

RETENTION_DAYS = typer.Option(
    None, "--workflow-retention-days", min=0.0,
    help="Keep closed workflow executions this long (days; fractions allowed); default "
    "EVENTBUS_WORKFLOW_RETENTION_DAYS, else 90.",
)


_WORKFLOWS = typer.Option(
    Path("workflows"), "--workflows",
    help="The workflow files, whose machines startExecution tasks may start.")
_RULES = typer.Option(
    None, "--rules", help="Rule files whose `connections:` HTTP tasks use (read at start); "
    "default rules/ when present."
)


@workflows_app.command("worker")
def worker(
    redis_url: str | None = typer.Option(None, "--redis", help=REDIS_HELP),
    claim_idle: float = typer.Option(
        30.0, "--claim-idle", min=0.0, help="Take over work another worker held this long (s)."
    ),
    concurrency: int = typer.Option(256, "--concurrency", min=1, help="Work entries at once."),
    consumer: str | None = typer.Option(
        None, "--consumer", help="Consumer name in the group; default wf-<host>-<pid>."
    ),
    tasks: str | None = typer.Option(
        None, "--tasks", help="module:NAME of a mapping of Task Resource to Python callable."
    ),
    rules: Path | None = _RULES,
    workflows_dir: Path = _WORKFLOWS,
    retention_days: float | None = RETENTION_DAYS,
    verbose: bool = typer.Option(False, "--verbose", help="Log info lines too, not only problems."),
) -> None:
    """Run a worker of durable workflow executions: start them, call their tasks, fire their
    timers, store each step. Any number of workers may share one Redis; SIGTERM finishes or
    hands back held work and exits 0."""
    from eventbus.config import load_rules
    from eventbus.connection import resolve_redis_url
    from eventbus.errors import RuleFileError, WorkflowFileError
    from eventbus.worker import configure_logging
    from eventbus.workflows.catalog import load_workflows
    from eventbus.workflows.retention import DAY
    from eventbus.workflows.worker import WorkerOptions, load_tasks, run_worker

    configure_logging(verbose)
    try:
        registry = load_tasks(tasks) if tasks else None
    except ValueError as e:
        fail(str(e))
    path = rules if rules is not None else Path("rules")
    try:
        connections = load_rules(path).connections if rules or path.exists() else {}
    except RuleFileError as e:
        fail(f"invalid rules:\n{e}")
    try:
        catalog = load_workflows(workflows_dir) if workflows_dir.exists() else None
    except WorkflowFileError as e:
        fail(f"invalid workflows:\n{e}")
    definitions = {m.name: m.text for m in catalog} if catalog is not None else {}
    url = resolve_redis_url(redis_url)
    options = WorkerOptions(claim_idle=claim_idle, concurrency=concurrency,
                            consumer=consumer or "",
                            retention=None if retention_days is None else retention_days * DAY)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(run_worker(url, options, tasks=registry, connections=connections,
                              definitions=definitions))
