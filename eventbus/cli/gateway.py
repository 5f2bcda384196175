"""CLI commands: the HTTP gateway (``eventbus serve``)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Any

import typer

from eventbus.cli.app import REDIS_HELP, app, fail, loop_factory

if TYPE_CHECKING:
    from eventbus.gateway.state import Gateway
    from eventbus.rule_watch import RuleWatch

log = logging.getLogger("eventbus.gateway")


# The gateway's defences against clients without a valid key; `eventbus run --http` shares them.
MAX_UNVERIFIED_BYTES = typer.Option(
    None, "--max-unverified-bytes", min=1,
    help="Bytes of bodies held before their signature is checked, across all connections "
    "(503 + Retry-After past it); default $EVENTBUS_MAX_UNVERIFIED_BYTES, else 64 MiB.",
)  # fmt: skip
BODY_TIMEOUT = typer.Option(
    None, "--body-timeout", min=0.001,
    help="Seconds a request body may take to arrive (408 past it), and a new connection its "
    "first request's headers; default $EVENTBUS_BODY_TIMEOUT, else 30.",
)  # fmt: skip
MAX_CONNECTIONS = typer.Option(
    None, "--max-connections", min=1,
    help="Open connections (503 on those past it); default $EVENTBUS_MAX_CONNECTIONS, else 1000.",
)  # fmt: skip


@app.command("serve")
def serve(
    rules: str = typer.Option("rules/", "--rules", help="A rule file or a directory of them."),
    workflows: str | None = typer.Option(
        None, "--workflows", help="State machines the Step Functions API serves read-only "
        "(NAME.asl.json, NAME.asl.yaml); default: the workflows/ directory beside the rules, "
        "when there is one."),
    redis_url: str | None = typer.Option(None, "--redis", help=REDIS_HELP),
    port: int = typer.Option(8088, "--port", min=0, max=65535, help="TCP port (0: any free)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Accept unsigned requests (loopback addresses only)."
    ),
    credentials: str | None = typer.Option(
        None, "--credentials", help="A file of KEY_ID:SECRET lines, one access key each."
    ),
    max_entries: int = typer.Option(10, "--max-entries", min=1, help="Entries per PutEvents."),
    max_request_bytes: int | None = typer.Option(
        None,
        "--max-request-bytes",
        min=1,
        help="Body cap (413 above); default 3 x max-entries entries of the largest size + 64 KiB "
        "(JSON escaping can triple an entry).",
    ),
    max_unverified_bytes: int | None = MAX_UNVERIFIED_BYTES,
    body_timeout: float | None = BODY_TIMEOUT,
    max_connections: int | None = MAX_CONNECTIONS,
) -> None:
    """Serve EventBridge's and Step Functions' APIs (boto3 and the AWS SDKs work unchanged),
    CloudEvents, /healthz and /metrics over HTTP.

    Requests are authenticated with AWS Signature Version 4 against the access keys in
    $EVENTBUS_ACCESS_KEY_ID / $EVENTBUS_SECRET_ACCESS_KEY or --credentials. SIGHUP (or editing a
    rule or workflow file) reloads the rules and workflows; SIGTERM stops. Exit 2 on bad
    options, rule or workflow files or keys; 1 when the port cannot be listened on.
    """
    from eventbus.connection import resolve_redis_url
    from eventbus.errors import RuleFileError
    from eventbus.gateway.auth import CredentialsError, resolve_secrets
    from eventbus.gateway.server import bind
    from eventbus.rule_watch import RuleWatch
    from eventbus.workflows.catalog import workflows_beside

    try:
        secrets = resolve_secrets(host, no_auth=no_auth, credentials_file=credentials)
    except CredentialsError as e:
        fail(str(e))
    watch = RuleWatch(rules, workflows=workflows or workflows_beside(rules))
    try:
        ruleset = watch.load()
    except RuleFileError as e:
        fail(str(e))
    url = resolve_redis_url(redis_url)
    try:
        sock = bind(host, port)
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror or e}", code=1)
    # Before saying where it listens: from then on a SIGHUP must not end the process.
    signal.signal(signal.SIGHUP, lambda signum, frame: watch.request())
    address = sock.getsockname()
    keys = "off" if secrets is None else f"SigV4, {len(secrets)} access key(s)"
    typer.echo(f"eventbus: gateway on http://{host}:{address[1]} (authentication {keys})", err=True)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(_serve(watch, ruleset, url, sock, secrets, max_entries=max_entries,
                          max_request_bytes=max_request_bytes,
                          max_unverified_bytes=max_unverified_bytes, body_timeout=body_timeout,
                          max_connections=max_connections))  # fmt: skip


async def _serve(watch: RuleWatch, ruleset: Any, url: str, sock: Any, secrets: Any,
                 **limits: Any) -> None:  # fmt: skip
    from eventbus.gateway.server import open_gateway, serve

    async with open_gateway(ruleset, url, secrets=secrets, catalog=watch.workflows,
                            **limits) as gateway:  # fmt: skip
        following = asyncio.create_task(_follow_rules(gateway, watch))
        try:
            await serve(gateway, sock)
        finally:
            following.cancel()


async def _follow_rules(gateway: Gateway, watch: RuleWatch) -> None:
    """Reload the rules the views answer from when a file changes or on SIGHUP, as a router
    does; an invalid set is logged and the running one stays."""
    from eventbus.rule_watch import RELOAD_POLL_SECONDS

    while True:
        await asyncio.sleep(RELOAD_POLL_SECONDS)
        try:
            if watch.due() and (ruleset := await watch.reload()) is not None:
                gateway.rules, gateway.catalog = ruleset, watch.workflows
                log.warning("rules reloaded")
        except Exception:  # e.g. an unreadable directory: keep serving, try at the next poll
            log.exception("reloading rules failed; the running rules stay")
