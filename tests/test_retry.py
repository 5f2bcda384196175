"""The retry policy: EventBridge's two cut-offs and exponential backoff with full jitter."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventbus.retry import (
    MAXIMUM_EVENT_AGE,
    MAXIMUM_RETRY_ATTEMPTS,
    Backoff,
    Exhausted,
    Retry,
    RetryLimits,
    decide_retry,
)

POLICY = RetryLimits(maximum_retry_attempts=3, maximum_event_age_seconds=3600)
BACKOFF = Backoff(base=1.0, cap=60.0)


def decide(attempts: int, **kwargs: object) -> Retry | Exhausted:
    args: dict[str, object] = {
        "attempts": attempts,
        "policy": POLICY,
        "backoff": BACKOFF,
        "now": 1000.0,
        "since": 1000.0,
        "rand": lambda: 1.0,
    }
    args.update(kwargs)
    return decide_retry(**args)  # type: ignore[arg-type]


def test_defaults_are_eventbridges() -> None:
    assert RetryLimits() == RetryLimits(185, 86_400)
    assert Backoff() == Backoff(1.0, 300.0)


def test_the_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    assert [BACKOFF.ceiling(r) for r in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_huge_retry_number_stays_at_the_cap() -> None:
    assert BACKOFF.ceiling(10_000) == 60.0


@given(retry=st.integers(1, 200), draw=st.floats(0.0, 1.0, exclude_max=True))
def test_full_jitter_draws_between_zero_and_the_ceiling(retry: int, draw: float) -> None:
    delay = BACKOFF.delay(retry, lambda: draw)
    assert 0.0 <= delay <= BACKOFF.ceiling(retry)


def test_first_failure_is_retried_after_the_jittered_delay() -> None:
    assert decide(1, rand=lambda: 0.5) == Retry(1000.5)


def test_retries_stop_after_maximum_retry_attempts() -> None:
    assert isinstance(decide(3), Retry)  # the third attempt failed: the third retry is allowed
    assert decide(4) == Exhausted(MAXIMUM_RETRY_ATTEMPTS)


def test_zero_retry_attempts_means_one_attempt_only() -> None:
    assert decide(1, policy=RetryLimits(0, 3600)) == Exhausted(MAXIMUM_RETRY_ATTEMPTS)


def test_retries_stop_when_the_next_one_would_pass_the_event_age() -> None:
    assert decide(2, since=1000.0 - 3600 + 1.5) == Exhausted(MAXIMUM_EVENT_AGE)
    assert decide(2, since=1000.0 - 3600 + 2.5) == Retry(1002.0)


def test_an_event_already_too_old_is_not_retried() -> None:
    assert decide(1, since=1000.0 - 7200) == Exhausted(MAXIMUM_EVENT_AGE)


def test_retry_after_longer_than_the_backoff_wins() -> None:
    assert decide(1, retry_after=30.0) == Retry(1030.0)


def test_retry_after_shorter_than_the_backoff_is_ignored() -> None:
    assert decide(4, policy=RetryLimits(10, 3600), retry_after=0.5) == Retry(1008.0)


def test_negative_retry_after_stops_retrying_with_no_condition() -> None:
    assert decide(1, retry_after=-1.0) == Exhausted("")


def test_retry_after_cannot_stretch_past_the_event_age() -> None:
    assert decide(1, retry_after=4000.0) == Exhausted(MAXIMUM_EVENT_AGE)


def test_retry_imports_no_io_modules() -> None:
    code = (
        "import sys, eventbus.retry;"
        "print(sorted({'redis', 'asyncio', 'httpx'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("attempts", [1, 50, 185])
def test_the_default_policy_allows_185_retries(attempts: int) -> None:
    got = decide(attempts, policy=RetryLimits(), since=1000.0)
    assert isinstance(got, Retry)
