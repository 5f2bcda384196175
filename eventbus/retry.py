"""When to try a failed delivery again, and when to stop (pure: no I/O).

EventBridge's retry policy, per target: retries stop when either ``maximum_retry_attempts``
(0..185, default 185) retries have been made or the event is older than
``maximum_event_age_seconds`` (60..86400, default 86400). Between attempts the delay is
exponential with *full jitter* (a uniform draw between 0 and ``min(cap, base * 2**retry)``), so
that a crowd of failed deliveries does not come back in lock-step::

    backoff = Backoff(base=1.0, cap=300.0)
    decide_retry(attempts=1, policy=RetryLimits(185, 86400), backoff=backoff,
                 now=100.0, since=90.0)         → Retry(at=100.0 + uniform(0, 1.0))
    decide_retry(attempts=186, ...)             → Exhausted("MaximumRetryAttempts")

A target may ask for a delay (HTTP ``Retry-After``): the more conservative of that delay and the
backoff is used, as EventBridge does; a negative one means "do not retry".
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_BACKOFF_BASE_SECONDS",
    "DEFAULT_BACKOFF_CAP_SECONDS",
    "DEFAULT_MAXIMUM_EVENT_AGE_SECONDS",
    "DEFAULT_MAXIMUM_RETRY_ATTEMPTS",
    "MAXIMUM_EVENT_AGE",
    "MAXIMUM_RETRY_ATTEMPTS",
    "Backoff",
    "Exhausted",
    "Retry",
    "RetryLimits",
    "decide_retry",
]

DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 185
DEFAULT_MAXIMUM_EVENT_AGE_SECONDS = 86_400
DEFAULT_BACKOFF_BASE_SECONDS = 1.0
DEFAULT_BACKOFF_CAP_SECONDS = 300.0
# The `exhausted-retry-condition` values of a dead letter, EventBridge's own words.
MAXIMUM_RETRY_ATTEMPTS = "MaximumRetryAttempts"
MAXIMUM_EVENT_AGE = "MaximumEventAgeInSeconds"
# 2**64 seconds is already far past any cap; bounding the exponent keeps the float finite.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class RetryLimits:
    """A target's retry policy, as plain numbers."""

    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age_seconds: float = DEFAULT_MAXIMUM_EVENT_AGE_SECONDS


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter; ``base`` and ``cap`` come from ``bus_config``."""

    base: float = DEFAULT_BACKOFF_BASE_SECONDS
    cap: float = DEFAULT_BACKOFF_CAP_SECONDS

    def ceiling(self, retry: int) -> float:
        """The largest delay before retry number ``retry`` (1 for the first retry)."""
        exponent = min(max(retry - 1, 0), _MAX_EXPONENT)
        return float(min(self.cap, self.base * 2.0**exponent))

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        return self.ceiling(retry) * rand()


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again at ``at`` (seconds since the epoch)."""

    at: float


@dataclass(frozen=True, slots=True)
class Exhausted:
    """Stop: ``condition`` is the `exhausted-retry-condition` (empty when the error is final)."""

    condition: str


def decide_retry(
    *,
    attempts: int,
    policy: RetryLimits,
    backoff: Backoff,
    now: float,
    since: float,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> Retry | Exhausted:
    """What to do after the ``attempts``-th failed attempt of a retryable delivery.

    ``since`` starts the event-age budget (the event's ingestion, or its redrive). A retry is
    scheduled only if it would start before the age limit; otherwise the age is the reason.
    """
    if retry_after is not None and retry_after < 0:
        return Exhausted("")
    retries_done = attempts - 1
    if retries_done >= policy.maximum_retry_attempts:
        return Exhausted(MAXIMUM_RETRY_ATTEMPTS)
    delay = backoff.delay(retries_done + 1, rand)
    if retry_after is not None:
        delay = max(delay, retry_after)
    at = now + delay
    if at >= since + policy.maximum_event_age_seconds:
        return Exhausted(MAXIMUM_EVENT_AGE)
    return Retry(at)
