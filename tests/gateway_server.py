"""A real gateway for tests: uvicorn serving on a free loopback port, in a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventbus.config import load_rules
from eventbus.gateway.server import bind, open_gateway, serve

KEY_ID = "AKIDTESTGATEWAY"
SECRET = "gateway-test-secret-key"
REGION = "us-east-1"


class RunningGateway:
    def __init__(self, url: str, loop: asyncio.AbstractEventLoop, task: asyncio.Task[None],
                 thread: threading.Thread) -> None:  # fmt: skip
        self.url = url
        self._loop = loop
        self._task = task
        self._thread = thread

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(30)


@contextmanager
def running_gateway(
    rules: str | Path,
    redis_url: str,
    *,
    secrets: Mapping[str, str] | None = None,
    **options: Any,
) -> Iterator[RunningGateway]:
    """A gateway on ``127.0.0.1:<free port>``; the socket listens before this returns, so
    requests sent at once wait in the backlog until uvicorn takes them."""
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    ruleset = load_rules(rules)
    loop = asyncio.new_event_loop()
    keys = {KEY_ID: SECRET} if secrets is None else secrets

    async def main() -> None:
        async with open_gateway(ruleset, redis_url, secrets=keys or None, **options) as gateway:
            await serve(gateway, sock, hosted=True)

    task = loop.create_task(main())

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="gateway", daemon=True)
    thread.start()
    running = RunningGateway(f"http://127.0.0.1:{port}", loop, task, thread)
    try:
        yield running
    finally:
        running.stop()
