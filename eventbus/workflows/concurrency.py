"""Running branches side by side inside one step function (pure).

Parallel branches and Map iterations are generators that yield commands and BLOCK (see
``commands.Block``). ``run_all`` drives up to ``limit`` of them at a time: it passes their
commands on, and routes each reply to the branch that issued the command's token. Branches
that need nothing from outside run to their end at once, one after another.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from eventbus.workflows.commands import BLOCK, Block, Command, TaskStarted
from eventbus.workflows.runtime import Branch, StateFailure

__all__ = ["Finished", "run_all"]


@dataclass(slots=True)
class Finished:
    """One branch's end: its output, or the failure that ended it."""

    index: int
    output: Any = None
    failure: StateFailure | None = None


def run_all(
    count: int,
    start: Callable[[int], Branch],
    limit: int,
    on_end: Callable[[Finished], bool],
) -> Generator[Command | Block, Any, list[int]]:
    """Run branches ``0..count-1`` (``start(i)`` creates branch i), at most ``limit`` at once.

    ``on_end`` is told of each branch's end as it happens and returns False to stop: the
    branches still running are then closed (abandoned). Returns the indices of the branches
    closed that way.
    """
    running: dict[int, Branch] = {}
    owner: dict[str, int] = {}
    next_index = 0
    stopped = False

    def drive(index: int, value: Any) -> Generator[Command | Block, Any, bool]:
        """Run one branch until it blocks or ends; False once ``on_end`` says stop."""
        branch = running[index]
        while True:
            try:
                out = branch.send(value)
            except StopIteration as done:
                del running[index]
                return on_end(Finished(index, output=done.value))
            except StateFailure as failure:
                del running[index]
                return on_end(Finished(index, failure=failure))
            if isinstance(out, Block):
                return True
            owner[out.token] = index
            yield out
            value = None

    while not stopped and (next_index < count or running):
        while not stopped and next_index < count and len(running) < limit:
            index, next_index = next_index, next_index + 1
            running[index] = start(index)
            stopped = not (yield from drive(index, None))
        if stopped or not running:
            continue
        reply = yield BLOCK
        token = getattr(reply, "token", "")
        # A task's start is followed by its result, which must find the same branch.
        index = owner.get(token, -1) if isinstance(reply, TaskStarted) else owner.pop(token, -1)
        if index in running:
            stopped = not (yield from drive(index, reply))
    abandoned = sorted(running)
    for branch in running.values():
        branch.close()
    return abandoned
