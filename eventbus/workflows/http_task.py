"""``arn:aws:states:::http:invoke``: Step Functions' HTTP task, through the ``http`` target's
client (the worker's shared aiohttp session, at most ``connection_limit`` requests in flight
per connection, a total deadline, the 1 MiB cap on what is read), its authorization and its
shared rate limit, as set by the connection the task names.

The result is AWS's::

    {"Headers": {"content-type": ["application/json"], ...},   # names lower-cased
     "ResponseBody": {...},          # parsed when the answer is JSON, else its text
     "StatusCode": 200, "StatusText": "OK"}

A status outside 2xx fails the task with ``States.Http.StatusCode.<code>`` and that same object
as JSON text for the cause; a request that does not complete within the connection's
``timeout_seconds`` (60 by default, AWS's limit) or cannot reach the endpoint fails with
``States.Http.Socket``; an unknown connection with
``Events.ConnectionResource.ResourceNotFound``; a connection whose credentials cannot be had
(an environment variable unset, an OAuth token refused) with
``Events.ConnectionResource.InvalidConnectionState``.

Every request carries ``Idempotency-Key: <task token>`` (unless the task's ``Headers`` set it):
the same on every call of one attempt, which a worker may repeat after a crash; a ``Retry`` of
the state is a new attempt with a new token.
"""

from __future__ import annotations

import asyncio
import http
from typing import Any, Final

import orjson

from eventbus.connections import connection_name
from eventbus.errors import TargetError, TaskFailed
from eventbus.targets.http import USER_AGENT
from eventbus.targets.http_client import fetch
from eventbus.targets.http_response import Answer
from eventbus.workflows import jsontext
from eventbus.workflows.http_request import HttpRequest, read_request
from eventbus.workflows.task_services import LiveConnection, TaskServices

__all__ = ["HTTP_INVOKE", "IDEMPOTENCY_HEADER", "invoke_http"]

HTTP_INVOKE: Final = "arn:aws:states:::http:invoke"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
_REFRESH_STATUSES: Final = frozenset({401, 407})
_CREDENTIAL_CODES: Final = frozenset({"MISSING_SECRET", "INVALID_SECRET", "OAUTH_TOKEN"})


async def invoke_http(
    task_input: Any, execution_arn: str, task_token: str, services: TaskServices
) -> dict[str, Any]:
    """Send the request ``task_input`` describes; AWS's result, or ``TaskFailed`` as AWS fails."""
    request = read_request(task_input)
    live = _connection(request.connection_arn, services)
    headers = {"User-Agent": USER_AGENT, **request.headers}
    if not any(name.lower() == IDEMPOTENCY_HEADER.lower() for name in headers):
        headers[IDEMPOTENCY_HEADER] = task_token
    seconds = live.spec.timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            if live.limiter is not None:
                await live.limiter.acquire()
            answer, sent = await _exchange(live, request, headers)
            if answer.status in _REFRESH_STATUSES and live.auth.refreshable:
                live.auth.invalidate(sent)
                answer, _ = await _exchange(live, request, headers)
    except TimeoutError:
        raise TaskFailed(
            "States.Http.Socket",
            f"{request.method} {_where(request)} did not complete within {seconds:g} s",
        ) from None
    except TargetError as e:
        raise _failure(e, live) from None
    result = _result(answer)
    if not 200 <= answer.status < 300:
        raise TaskFailed(f"States.Http.StatusCode.{answer.status}", jsontext.dumps(result))
    return result


def _connection(arn: str, services: TaskServices) -> LiveConnection:
    name = connection_name(arn)
    live = services.connection(name) if name is not None else None
    if live is None:
        raise TaskFailed(
            "Events.ConnectionResource.ResourceNotFound",
            f"Connection '{arn}' does not exist: declare it in a rule file's `connections:` "
            "section and name it by arn:aws:events:<region>:<account>:connection/<name>",
        )
    return live


async def _exchange(
    live: LiveConnection, request: HttpRequest, headers: dict[str, str]
) -> tuple[Answer, dict[str, str]]:
    # The connection's authorization wins over the task's headers, as on AWS.
    sent = {**headers, **await live.auth.headers(live.client)}
    answer = await fetch(
        live.client,
        request.method,
        request.url,
        query={},
        headers=sent,
        content=request.body,
        redact=live.auth.redact,
    )
    return answer, sent


def _failure(error: TargetError, live: LiveConnection) -> Exception:
    if error.code in _CREDENTIAL_CODES:
        return TaskFailed(
            "Events.ConnectionResource.InvalidConnectionState",
            f"Connection '{live.spec.name}' cannot authorize: {error}",
        )
    if error.code == "THROTTLED":
        return TaskFailed(
            "States.Http.Socket",
            f"Connection '{live.spec.name}' allows {live.spec.rate_limit_per_second:g} requests "
            f"a second: no slot within {live.spec.timeout_seconds:g} s",
        )
    if error.code == "REDIS_ERROR":
        return error  # the worker's own trouble, not the endpoint's: the worker decides
    return TaskFailed("States.Http.Socket", str(error))


def _result(answer: Answer) -> dict[str, Any]:
    if answer.truncated:
        raise TaskFailed(
            "States.DataLimitExceeded",
            f"The answer of {answer.method} {answer.url.split('?', 1)[0]} is over 1 MiB",
        )
    headers: dict[str, list[str]] = {}
    for name, value in answer.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    return {
        "Headers": headers,
        "ResponseBody": _body(answer),
        "StatusCode": answer.status,
        "StatusText": _phrase(answer.status),
    }


def _body(answer: Answer) -> Any:
    text = answer.body.decode("utf-8", "replace")
    content_type = answer.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            return text
    return text


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _where(request: HttpRequest) -> str:
    # Without the query string: parameters can carry values an operator did not mean to log.
    return request.url.split("?", 1)[0]
