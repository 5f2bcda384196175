"""The total deadline of an HTTP exchange, kept for all of a target's requests by one timer.

``async with deadlines.within(seconds, what):`` bounds everything inside (connecting, sending,
the whole answer, a token fetch) to ``seconds``; past it the task is cancelled there and the
block raises a retryable ``TIMEOUT``. A per-read timeout is not enough: a body sent one byte a
second never trips it.

It behaves as ``asyncio.timeout`` does, but arming and cancelling a timer for every request
costs about as much as the rest of the target's own work on uvloop (where each timer is a libuv
handle). So one timer is armed for the earliest deadline of the requests in flight; a request
that ends in time only leaves the table, and when the timer fires it cancels those past their
deadline and is armed again for the earliest left. With a target's requests all given the same
``timeout_seconds``, it fires about once per ``timeout_seconds`` while requests flow.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType as Traceback
from typing import Any

from eventbus.errors import TargetTimeout

__all__ = ["Deadlines"]


class Deadlines:
    """The deadlines of the requests in flight (of one target, on one event loop)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due: dict[_Within, tuple[float, asyncio.Task[Any]]] = {}
        self._expired: set[_Within] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def within(self, seconds: float, *what: str) -> _Within:
        """A block to run within ``seconds``; ``what``, joined by spaces, names it in the
        ``TIMEOUT`` message (joined only then)."""
        return _Within(self, seconds, what)

    def _add(self, block: _Within, seconds: float, task: asyncio.Task[Any]) -> None:
        loop = task.get_loop()
        if loop is not self._loop:  # a new loop (asyncio.run again): the old one's timer is dead
            self._loop, self._due, self._expired = loop, {}, set()
            self._timer, self._timer_at = None, math.inf
        when = loop.time() + seconds
        self._due[block] = (when, task)
        if when < self._timer_at:
            self._arm(loop, when)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._fire, loop)
        self._timer_at = when

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_at = None, math.inf
        now = loop.time()
        for block, (when, task) in list(self._due.items()):
            if when <= now:
                del self._due[block]
                self._expired.add(block)
                task.cancel()
        if self._due:
            self._arm(loop, min(when for when, _ in self._due.values()))

    def _end(self, block: _Within) -> bool:
        """Take ``block`` out; whether its deadline passed (its task was cancelled for it)."""
        if block in self._expired:
            self._expired.discard(block)
            return True
        self._due.pop(block, None)
        return False


class _Within:
    """One block under a deadline (see :class:`Deadlines`)."""

    __slots__ = ("_cancelling", "_deadlines", "_seconds", "_task", "_what")

    def __init__(self, deadlines: Deadlines, seconds: float, what: tuple[str, ...]) -> None:
        self._deadlines, self._seconds, self._what = deadlines, seconds, what
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = 0

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline is kept only inside a task")
        self._task, self._cancelling = task, task.cancelling()
        self._deadlines._add(self, self._seconds, task)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: Traceback | None
    ) -> None:
        assert self._task is not None
        if self._deadlines._end(self):
            # The cancellation was this deadline's: taken back, as asyncio.timeout does; one
            # from elsewhere as well still reaches the task's caller.
            if self._task.uncancel() <= self._cancelling and kind is asyncio.CancelledError:
                self._timed_out()
        elif kind is not None and issubclass(kind, TimeoutError):
            self._timed_out()

    def _timed_out(self) -> None:
        message = f"{' '.join(self._what)}: no complete answer within {self._seconds:g} s"
        raise TargetTimeout(message) from None
