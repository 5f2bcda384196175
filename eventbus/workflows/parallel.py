"""Parallel states (pure): every branch gets the same input; the output is their outputs."""

from __future__ import annotations

from typing import Any

from eventbus.workflows.concurrency import Finished, run_all
from eventbus.workflows.errors_handling import with_retry_and_catch
from eventbus.workflows.rerun import Rerun
from eventbus.workflows.runtime import Branch, StateFailure, StateRun, Steps

__all__ = ["run_parallel"]


def _attempt(run: StateRun) -> Steps:
    from eventbus.workflows.interpreter import child_frame

    branch_input = run.arguments() if run.jsonata else run.parameters(run.input_path())
    history = run.frame.history
    history.add("ParallelStateStarted")
    branches = run.state["Branches"]
    results: list[Any] = [None] * len(branches)
    failures: list[StateFailure] = []
    rerun = Rerun(run)

    def start(index: int) -> Branch:
        branch = branches[index]
        return rerun.branch(
            index, lambda: child_frame(run.frame, branch["States"], branch["StartAt"]),
            branch_input)

    def on_end(end: Finished) -> bool:
        if end.failure is not None:
            failures.append(end.failure)
            return False
        results[end.index] = end.output
        rerun.succeeded(end.index, end.output)
        return True

    yield from run_all(len(branches), start, len(branches) or 1, on_end)
    if failures:
        raise failures[0]
    history.add("ParallelStateSucceeded")
    output, assigned = run.finish(results)
    return run.outcome(output, assigned)


def run_parallel(run: StateRun) -> Steps:
    return (yield from with_retry_and_catch(run, lambda _: _attempt(run), "ParallelStateFailed"))
