"""Redriving a Parallel or Map state as AWS does (pure): only the branches or iterations that
did not succeed run again.

Each attempt of a Parallel or Map keeps, on the frame it runs in, the frames of its branches
(each knowing the state it was in) and the outputs of those that succeeded. When a redrive
enters that state again, its first attempt answers the succeeded branches with their outputs,
without running them, and runs the others again from the state each stopped in, with its
variables; a branch that had not begun starts from the beginning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventbus.workflows.runtime import Branch, Frame, StateRun

__all__ = ["Rerun"]


class Rerun:
    """The branches of one Parallel or Map attempt, kept for a redrive."""

    def __init__(self, run: StateRun) -> None:
        self.run = run
        frame = run.frame
        # Only the first attempt of the state a redrive enters again resumes; its retries
        # run every branch.
        self.previous, frame.resume = frame.resume, None
        frame.branches, frame.outputs = {}, {}

    def done_before(self, index: int) -> bool:
        """Whether branch ``index`` succeeded before the redrive (it is not run again)."""
        return self.previous is not None and index in self.previous.outputs

    def branch(self, index: int, new_frame: Callable[[], Frame], data: Any) -> Branch:
        """Branch ``index``: its earlier output, the branch again from where it stopped, or
        the branch from its start (``new_frame``) with ``data``."""
        from eventbus.workflows.interpreter import run_branch

        if self.done_before(index):
            assert self.previous is not None
            return _answer(self.previous.outputs[index])
        old = self.previous.branches.get(index) if self.previous is not None else None
        if old is not None and old.at is not None:
            frame = Frame(old.states, old.at[0], old.variables, old.history, resume=old)
            data = old.at[1]
        else:
            frame = new_frame()
        self.run.frame.branches[index] = frame
        return run_branch(self.run.env, frame, data)

    def succeeded(self, index: int, output: Any) -> None:
        self.run.frame.outputs[index] = output


def _answer(output: Any) -> Branch:
    """A branch that ends at once with ``output``."""
    return output
    yield  # a generator, as every branch is
