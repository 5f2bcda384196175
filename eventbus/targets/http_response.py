"""What an HTTP answer means for a delivery (EventBridge API destinations' rules), and the two
bounds every exchange keeps, whatever HTTP client carries it:

* one total deadline per request (:mod:`eventbus.targets.http_deadline`): connecting, sending
  and reading the whole answer; past it the attempt fails with a retryable ``TIMEOUT``, so an
  endpoint that trickles its answer cannot hold a delivery longer than ``timeout_seconds``;
* at most :data:`RESPONSE_BODY_MAX_BYTES` of the body are read (:func:`read_capped`); the status
  decides the outcome, and the rest of a longer body is never read (the connection is dropped).

What each answer means:

* 2xx: delivered; the outcome carries the status and the body when it is small JSON;
* 429 and 5xx: retried, after ``Retry-After`` when the endpoint gives one; a negative
  ``Retry-After`` stops the retries (the delivery is dead-lettered);
* anything else (1xx, 3xx, other 4xx): dead-lettered at once with the status and an excerpt of
  the body. Redirects are not followed, as a redirect to another host could leak credentials.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

import orjson

from eventbus.errors import TargetError

__all__ = [
    "BODY_EXCERPT_CHARS",
    "OUTCOME_BODY_MAX_BYTES",
    "RESPONSE_BODY_MAX_BYTES",
    "Answer",
    "outcome",
    "parse_retry_after",
    "read_capped",
]

BODY_EXCERPT_CHARS: Final = 256
OUTCOME_BODY_MAX_BYTES: Final = 4096
RESPONSE_BODY_MAX_BYTES: Final = 1 << 20


@dataclass(slots=True)  # not frozen: one per request, and a frozen one is slower to build
class Answer:
    """One HTTP answer as a delivery sees it, whatever client fetched it."""

    method: str
    url: str  # as requested, for messages
    status: int
    headers: Mapping[str, str]  # looked up by lower-case name (the client's are case-blind)
    body: bytes  # at most RESPONSE_BODY_MAX_BYTES
    truncated: bool  # the body was longer; the rest was not read


async def read_capped(
    chunks: AsyncIterable[bytes], limit: int = RESPONSE_BODY_MAX_BYTES
) -> tuple[bytes, bool]:
    """The first ``limit`` bytes of a streamed body, and whether more followed. Reading stops at
    the limit, so memory stays bounded by it whatever the endpoint sends; the caller then closes
    the stream, which drops the connection instead of draining an answer of unknown length."""
    kept: list[bytes] = []
    room = limit
    async for chunk in chunks:
        if len(chunk) > room:
            kept.append(chunk[:room])
            return b"".join(kept), True
        kept.append(chunk)
        room -= len(chunk)
    return b"".join(kept), False


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds (delay-seconds or an HTTP date); None when absent or unreadable.
    A negative number is kept: it means "do not retry"."""
    if value is None:
        return None
    text = value.strip()
    try:
        return float(int(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def outcome(
    answer: Answer, redact: Callable[[str], str], accept: frozenset[int] = frozenset()
) -> dict[str, Any]:
    """The outcome of a delivered request, or the ``TargetError`` its status calls for."""
    status = answer.status
    if 200 <= status < 300 or status in accept:
        return {"status": status, "body": _small_json(answer)}
    # Redact before cutting: a secret cut in half by the excerpt would escape redaction.
    text = answer.body[:OUTCOME_BODY_MAX_BYTES].decode("utf-8", "replace")
    excerpt = redact(text)[:BODY_EXCERPT_CHARS]
    message = f"{answer.method} {_where(answer)} answered {status}: {excerpt}"
    if status != 429 and status < 500:
        raise TargetError(message, retryable=False, code=f"HTTP_{status}")
    retry_after = parse_retry_after(answer.headers.get("retry-after"))
    if retry_after is not None and retry_after < 0:
        raise TargetError(
            f"{message} (negative Retry-After: not retried)", retryable=False, code=f"HTTP_{status}"
        )
    raise TargetError(message, code=f"HTTP_{status}", retry_after=retry_after)


def _where(answer: Answer) -> str:
    # Without the query string: parameters can carry values an operator did not mean to log.
    return answer.url.split("?", 1)[0]


def _small_json(answer: Answer) -> Any:
    if len(answer.body) > OUTCOME_BODY_MAX_BYTES or "json" not in answer.headers.get(
        "content-type", ""
    ):
        return None
    try:
        return orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return None
