"""The ``log`` target: one JSON line per delivery, to standard output or appended to a file.

Rule example::

    - id: audit
      type: log
      path: /var/log/eventbus/orders.jsonl   # optional (directories created); default: stdout

Each line is a JSON object: ``time`` (UTC, ISO 8601 with milliseconds), ``bus``, ``rule``,
``target``, ``delivery-id``, ``event-id``, ``attempt`` and ``payload`` (the input text, as is).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import orjson
from pydantic import Field

from eventbus.errors import TargetError
from eventbus.targets.base import DeliveryContext, TargetConfig, TargetServices

__all__ = ["LogConfig", "LogTarget", "log_line"]


class LogConfig(TargetConfig):
    path: str | None = Field(
        default=None, min_length=1, description="file to append to; default: standard output"
    )

    def load_problems(self) -> list[tuple[str, str]]:
        problem = None if self.path is None else _unwritable(Path(self.path))
        return [] if problem is None else [("path", problem)]


def _unwritable(path: Path) -> str | None:
    """Why ``path`` cannot be appended to (its missing directories created first), or None."""
    if path.is_dir():
        return f"{str(path)!r} is a directory"
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{str(path)!r} is not writable"
    existing = path.absolute().parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot create the directory of {str(path)!r}: {str(existing)!r} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot create {str(path)!r}: {str(existing)!r} is not writable"
    return None


def log_line(payload: str, ctx: DeliveryContext, now: datetime | None = None) -> bytes:
    """The line written for one delivery, newline included."""
    moment = now or datetime.now(UTC)
    record = {
        "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "bus": ctx.bus,
        "rule": ctx.rule,
        "target": ctx.target_id,
        "delivery-id": ctx.delivery_id,
        "event-id": ctx.event_id,
        "attempt": ctx.attempt,
        "payload": payload,
    }
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


class LogTarget:
    """Write each delivery as one JSON line."""

    config_model: ClassVar[type[TargetConfig]] = LogConfig

    def __init__(self, config: LogConfig, services: TargetServices) -> None:
        self._path = config.path
        self._fd: int | None = None

    async def send(self, payload: str, ctx: DeliveryContext) -> dict[str, Any] | None:
        line = log_line(payload, ctx)
        try:
            if self._path is None:
                # Looked up per call so a redirected sys.stdout (tests, embedding) is honoured.
                sys.stdout.write(line.decode())
                sys.stdout.flush()
            else:
                os.write(self._file(), line)
        except OSError as e:
            raise TargetError(f"log target cannot write to {self._path!r}: {e}") from e
        return None

    def _file(self) -> int:
        # One write(2) per line on an O_APPEND descriptor keeps the lines of several routers
        # sharing one file whole.
        if self._fd is None:
            assert self._path is not None
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd

    async def aclose(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
