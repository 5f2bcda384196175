"""A real gateway for tests: uvicorn serving on a free loopback port, in a thread of its own."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

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


@contextmanager
def running_router(rules: str | Path, redis_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """``eventbus run`` as its own process, stopped with SIGTERM at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTBUS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "eventbus", "run", "--rules", str(rules), "--redis", redis_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        yield process
    finally:
        process.terminate()
        process.wait(30)


def wait_for_stream(
    redis_url: str, stream: str, count: int = 1, timeout: float = 30.0
) -> list[Any]:
    """The first ``count`` entries of ``stream``, waiting (bounded) for a router to write them."""
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            entries = client.xrange(stream)
            if len(entries) >= count or time.monotonic() > deadline:
                return list(entries)
            time.sleep(0.05)
    finally:
        client.close()
