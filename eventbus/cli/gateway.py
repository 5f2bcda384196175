"""CLI commands: the HTTP gateway (``eventbus serve``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import typer

from eventbus.cli.app import app, fail, loop_factory

_REDIS_HELP = "Redis URL; default $EVENTBUS_REDIS_URL, else the embedded Redis in ./.eventbus/."

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
    redis_url: str | None = typer.Option(None, "--redis", help=_REDIS_HELP),
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
        help="Body cap (413 above); default max-entries entries of the largest size + 64 KiB.",
    ),
    max_unverified_bytes: int | None = MAX_UNVERIFIED_BYTES,
    body_timeout: float | None = BODY_TIMEOUT,
    max_connections: int | None = MAX_CONNECTIONS,
) -> None:
    """Serve EventBridge's API (boto3 and the AWS SDKs work unchanged), CloudEvents, /healthz
    and /metrics over HTTP.

    Requests are authenticated with AWS Signature Version 4 against the access keys in
    $EVENTBUS_ACCESS_KEY_ID / $EVENTBUS_SECRET_ACCESS_KEY or --credentials. Exit 2 on bad
    options, rule files or keys; 1 when the port cannot be listened on.
    """
    from eventbus.config import load_rules
    from eventbus.connection import resolve_redis_url
    from eventbus.errors import RuleFileError
    from eventbus.gateway.auth import CredentialsError, resolve_secrets
    from eventbus.gateway.server import bind

    try:
        secrets = resolve_secrets(host, no_auth=no_auth, credentials_file=credentials)
    except CredentialsError as e:
        fail(str(e))
    try:
        ruleset = load_rules(rules)
    except RuleFileError as e:
        fail(str(e))
    url = resolve_redis_url(redis_url)
    try:
        sock = bind(host, port)
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror or e}", code=1)
    address = sock.getsockname()
    keys = "off" if secrets is None else f"SigV4, {len(secrets)} access key(s)"
    typer.echo(f"eventbus: gateway on http://{host}:{address[1]} (authentication {keys})", err=True)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(_serve(ruleset, url, sock, secrets, max_entries=max_entries,
                          max_request_bytes=max_request_bytes,
                          max_unverified_bytes=max_unverified_bytes, body_timeout=body_timeout,
                          max_connections=max_connections))  # fmt: skip


async def _serve(ruleset: Any, url: str, sock: Any, secrets: Any, **limits: Any) -> None:
    from eventbus.gateway.server import open_gateway, serve

    async with open_gateway(ruleset, url, secrets=secrets, **limits) as gateway:
        await serve(gateway, sock)
