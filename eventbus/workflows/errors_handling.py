"""Retry and Catch (pure): which retrier or catcher an error meets, and the backoff delay."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from eventbus.errors import StatesError
from eventbus.workflows.commands import StartTimer
from eventbus.workflows.context import state_context
from eventbus.workflows.paths import apply_result_path
from eventbus.workflows.runtime import (
    TERMINAL_ERRORS,
    Outcome,
    StateFailure,
    StateRun,
    Steps,
    request,
)

__all__ = ["backoff_delay", "matches", "with_retry_and_catch"]


def matches(error_equals: Sequence[str], error: str | None) -> bool:
    """Does a retrier's or catcher's ``ErrorEquals`` cover ``error``?

    ``States.ALL`` covers every error except the terminal ones; ``States.TaskFailed`` too,
    except ``States.Timeout`` (and ``States.HeartbeatTimeout``, which ``States.Timeout`` covers)
    as well.
    """
    name = error or ""
    for candidate in error_equals:
        if candidate == name:
            return True
        if candidate == "States.ALL" and name not in TERMINAL_ERRORS:
            return True
        if candidate == "States.TaskFailed" and name not in TERMINAL_ERRORS \
                and name not in ("States.Timeout", "States.HeartbeatTimeout"):
            return True
        if candidate == "States.Timeout" and name == "States.HeartbeatTimeout":
            return True  # AWS: States.Timeout covers a missed heartbeat too
    return False


def backoff_delay(retrier: Mapping[str, Any], attempt: int, random: Callable[[], float]) -> float:
    """Seconds before retry number ``attempt`` (0-based): IntervalSeconds x BackoffRate^n,
    capped by MaxDelaySeconds, and with FULL jitter a uniform share of that."""
    interval = float(retrier.get("IntervalSeconds", 1))
    delay = interval * float(retrier.get("BackoffRate", 2.0)) ** attempt
    if "MaxDelaySeconds" in retrier:
        delay = min(delay, float(retrier["MaxDelaySeconds"]))
    if retrier.get("JitterStrategy") == "FULL":
        delay *= random()
    return delay


def with_retry_and_catch(
    run: StateRun, attempt: Callable[[int], Steps], failed_event: str | None = None
) -> Steps:
    """Run ``attempt(retry_count)`` until it succeeds, a retrier gives up or a catcher takes it.

    ``failed_event`` (``MapStateFailed``, ``ParallelStateFailed``) is recorded once the failure
    leaves the state, caught or not, and not for attempts that are retried; AWS leaves it out
    for the terminal ``States.Runtime``.
    """
    retriers = run.state.get("Retry", ())
    counts = [run.retries_done] * len(retriers)
    retry_count = 0
    while True:
        if retry_count:
            # $$.State.RetryCount tells a retried attempt which one it is.
            run.retry_count = retry_count
            run.context = state_context(run.env.info, run.name, run.entered_time,
                                        retry_count=retry_count,
                                        execution=run.env.execution_context)
        try:
            try:
                return (yield from attempt(retry_count))
            except StatesError as err:
                raise run.failure(err) from err
        except StateFailure as failure:
            run.last_failure = failure
            for i, retrier in enumerate(retriers):
                if matches(retrier["ErrorEquals"], failure.error):
                    if counts[i] < int(retrier.get("MaxAttempts", 3)):
                        delay = backoff_delay(retrier, counts[i], run.env.random)
                        run.note("errorDetails", {"retryBackoffIntervalSeconds": round(delay),
                                                  "retryIndex": i})
                        counts[i] += 1
                        retry_count += 1
                        token = run.env.uuid()
                        yield from request(
                            StartTimer(token, run.env.now + timedelta(seconds=delay)))
                        break
                    run.note("errorDetails", {"retryIndex": i})
                    retrier = None
                    break
            else:
                retrier = None
            if retrier is not None:
                continue
            if failed_event is not None and failure.error != "States.Runtime":
                run.frame.history.add(failed_event)
            return catch(run, failure)


def catch(run: StateRun, failure: StateFailure) -> Outcome:
    for index, catcher in enumerate(run.state.get("Catch", ())):
        if matches(catcher["ErrorEquals"], failure.error):
            run.note("errorDetails", {"catchIndex": index})
            error_output = failure.error_output()
            try:
                if run.jsonata:
                    assigned = run.resolve(catcher["Assign"], "Assign", errorOutput=error_output) \
                        if "Assign" in catcher else {}
                    output = run.resolve(catcher["Output"], "Output", errorOutput=error_output) \
                        if "Output" in catcher else error_output
                else:
                    assigned = run.payload(catcher["Assign"], error_output) \
                        if "Assign" in catcher else {}
                    output = apply_result_path(catcher.get("ResultPath", "$"), run.raw_input,
                                               error_output)
            except StatesError as err:
                raise run.failure(err) from err
            outcome = run.outcome(output, assigned, catcher["Next"])
            outcome.caught = True
            return outcome
    raise failure
