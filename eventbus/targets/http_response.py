"""What an HTTP answer means for a delivery (EventBridge API destinations' rules):

* 2xx: delivered; the outcome carries the status and the body when it is small JSON;
* 429 and 5xx: retried, after ``Retry-After`` when the endpoint gives one; a negative
  ``Retry-After`` stops the retries (the delivery is dead-lettered);
* anything else (1xx, 3xx, other 4xx): dead-lettered at once with the status and an excerpt of
  the body. Redirects are not followed, as a redirect to another host could leak credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx
import orjson

from eventbus.errors import TargetError

__all__ = ["BODY_EXCERPT_CHARS", "OUTCOME_BODY_MAX_BYTES", "outcome", "parse_retry_after"]

BODY_EXCERPT_CHARS: Final = 256
OUTCOME_BODY_MAX_BYTES: Final = 4096


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
    response: httpx.Response, redact: Callable[[str], str], accept: frozenset[int] = frozenset()
) -> dict[str, Any]:
    """The outcome of a delivered request, or the ``TargetError`` its status calls for."""
    status = response.status_code
    if 200 <= status < 300 or status in accept:
        return {"status": status, "body": _small_json(response)}
    # Redact before cutting: a secret cut in half by the excerpt would escape redaction.
    excerpt = redact(response.text[:OUTCOME_BODY_MAX_BYTES])[:BODY_EXCERPT_CHARS]
    message = f"{response.request.method} {_where(response)} answered {status}: {excerpt}"
    if status != 429 and status < 500:
        raise TargetError(message, retryable=False, code=f"HTTP_{status}")
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after is not None and retry_after < 0:
        raise TargetError(
            f"{message} (negative Retry-After: not retried)", retryable=False, code=f"HTTP_{status}"
        )
    raise TargetError(message, code=f"HTTP_{status}", retry_after=retry_after)


def _where(response: httpx.Response) -> str:
    # Without the query string: parameters can carry values an operator did not mean to log.
    return str(response.request.url.copy_with(query=None))


def _small_json(response: httpx.Response) -> Any:
    content = response.content
    if len(content) > OUTCOME_BODY_MAX_BYTES or "json" not in response.headers.get(
        "content-type", ""
    ):
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
