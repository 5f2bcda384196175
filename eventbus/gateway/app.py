"""The gateway's Starlette application.

Routes: ``POST /`` (EventBridge's API, AWS JSON 1.1, and Step Functions', AWS JSON 1.0, told apart
by ``X-Amz-Target`` and signed for their own service), ``POST /cloudevents/{bus}`` (CloudEvents;
the bus a name or an event-bus ARN, raw or percent-encoded), ``GET /healthz`` and ``GET /metrics``
(Prometheus text). An unauthenticated client must not be able to make the gateway hold memory, so
the two publishing routes refuse, before reading a byte of the body, whatever the headers alone
show is wrong: SigV4 as far as the headers decide it (unless authentication is off), a missing
(411) or too large (413) Content-Length, and a body that would take the bodies held unverified past
``max_unverified_bytes`` (503, Retry-After). The body is then hashed as it streams in, within
``body_timeout`` (408), and the signature checked against that hash before the request itself is
read. Every refusal, an unknown path or method included, is an AWS JSON error ``{"__type",
"message"}`` (its code also in ``x-amzn-ErrorType``, where REST-JSON clients such as EventBridge
Scheduler's look for it); one sent before the body was read closes the connection. An unexpected
failure is logged with its traceback and answered 500 ``InternalException`` without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from eventbus import bus
from eventbus.errors import BusError
from eventbus.gateway import actions, stepfunctions
from eventbus.gateway.auth import check_request_headers
from eventbus.gateway.awsjson import (
    CONTENT_TYPE,
    EVENTS,
    STATES,
    ApiError,
    error_body,
    read_call,
    service_of,
)
from eventbus.gateway.cloudevents_route import publish_cloudevents, read_cloudevents
from eventbus.gateway.health import live_routers
from eventbus.gateway.state import Gateway
from eventbus.metrics_page import render_metrics
from eventbus.sigv4 import SignatureError

__all__ = ["create_app", "too_many_connections"]

log = logging.getLogger("eventbus.gateway")

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Every 503 is momentary (bodies being received, Redis out of reach): when to try again.
RETRY_AFTER_SECONDS = 1
_INTERNAL_FAILURE = {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal Service Failure"}


def _json(payload: Any, status: int = 200, media_type: str = CONTENT_TYPE) -> Response:
    return Response(
        orjson.dumps(payload),
        status_code=status,
        media_type=media_type,
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


def _error(
    code: str,
    message: str,
    status: int = 400,
    headers: dict[str, str] | None = None,
    *,
    close: bool = False,
) -> Response:
    answer_headers = {"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": code}
    if close:
        # The body may not have been (all) read: the connection cannot carry another request,
        # and a client sending the rest slowly must not keep it.
        answer_headers["Connection"] = "close"
    if status == 503:
        answer_headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return Response(error_body(code, message), status_code=status, media_type=CONTENT_TYPE,
                    headers=answer_headers | (headers or {}))  # fmt: skip


_ROUTES_TEXT = (
    "the gateway serves POST / (EventBridge's API, X-Amz-Target: AWSEvents.<Action>, and Step "
    "Functions', AWSStepFunctions.<Operation>), "
    "POST /cloudevents/{bus}, GET /healthz and GET /metrics"
)


async def _unrouted(request: Request, exc: Exception) -> Response:
    """A path or method no route serves (EventBridge Scheduler's paths, say): the AWS JSON error
    an SDK raises as ``UnknownOperationException``, instead of Starlette's plain text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    message = f"No operation at {request.method} {request.url.path}: {_ROUTES_TEXT}."
    return _error("UnknownOperationException", message, status, headers)


def _declared_length(request: Request, limit: int) -> int:
    """The body's Content-Length: 411 without one (a chunked body's size is unknown until it is
    read), 413 over ``limit``."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise ApiError(
            "LengthRequiredException",
            "A Content-Length header is required: send the body with its length, not chunked.",
            status=411,
        )
    size = int(declared)
    if size > limit:
        raise ApiError(
            "RequestEntityTooLargeException",
            f"The request body is over the limit of {limit} bytes (--max-request-bytes).",
            status=413,
        )
    return size


async def _stream_body(request: Request, timeout: float) -> tuple[bytes, str]:
    """The body and its hex sha256, hashed as it arrives; 408 when it is not all in within
    ``timeout`` seconds."""
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                digest.update(chunk)
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(
            "RequestTimeoutException",
            f"The request body was not received within {timeout:g} s (--body-timeout).",
            status=408,
        ) from None
    return b"".join(chunks), digest.hexdigest()


def _signing_name(request: Request) -> str:
    """The SigV4 service a request must be signed for: the one its ``X-Amz-Target`` calls
    (the target is itself a signed header, so it cannot be swapped for another service's)."""
    return service_of(request.headers.get("x-amz-target", "")).signing_name


async def _receive(gateway: Gateway, request: Request) -> bytes:
    """The body of a publishing request, read only once its headers pass, and verified."""
    pending = None
    if gateway.secrets is not None:
        pending = check_request_headers(request.scope, gateway.secrets, _signing_name(request))
    size = _declared_length(request, gateway.max_request_bytes)
    if gateway.unverified_bytes + size > gateway.max_unverified_bytes:
        raise ApiError(
            "ThrottlingException",
            f"Too many request bodies are being received at once (over "
            f"{gateway.max_unverified_bytes} bytes, --max-unverified-bytes); retry after "
            f"{RETRY_AFTER_SECONDS} s.",
            status=503,
        )
    # One event loop serves every connection: reserving and releasing need no lock.
    gateway.unverified_bytes += size
    try:
        body, payload_hash = await _stream_body(request, gateway.body_timeout)
        if pending is not None:
            pending.check(payload_hash)
    finally:
        gateway.unverified_bytes -= size
    return body


Handler = Callable[[Gateway, Request, bytes], Awaitable[Response]]


def _publishing(gateway: Gateway, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A route that receives the body as :func:`_receive` says and maps every error to its
    answer."""

    async def endpoint(request: Request) -> Response:
        received = False
        try:
            body = await _receive(gateway, request)
            received = True
            return await handler(gateway, request, body)
        except (ApiError, SignatureError) as e:
            return _error(e.code, e.message, getattr(e, "status", 400), close=not received)
        except ClientDisconnect:
            # Gone before its body was complete: nobody is left to read an answer.
            return Response(status_code=400, headers={"Connection": "close"})
        except Exception:
            log.exception("unexpected failure answering %s %s", request.method, request.url.path)
            return _error("InternalException", "An internal error occurred.", 500)

    return endpoint


async def _aws_json(gateway: Gateway, request: Request, body: bytes) -> Response:
    service, action, params = read_call(
        request.headers.get("content-type", ""), request.headers.get("x-amz-target", ""), body
    )
    if service is STATES:
        answer = await stepfunctions.call(gateway, action, params)
        return _json(answer, media_type=STATES.content_type)
    return _json(await actions.call(gateway, action, params), media_type=EVENTS.content_type)


async def _cloudevents(gateway: Gateway, request: Request, body: bytes) -> Response:
    headers = {k.lower(): v for k, v in request.headers.items()}
    mapped, batch = read_cloudevents(
        request.path_params["bus"], headers, body, gateway.max_entries
    )
    try:
        steps = publish_cloudevents(mapped, gateway.partitions, gateway.settings)
        result = await bus.run_async(gateway.redis, steps)
    except BusError:
        result = {"FailedEntryCount": len(mapped), "Entries": [_INTERNAL_FAILURE] * len(mapped)}
    gateway.metrics.count("PutEventsEntriesCount", len(mapped))
    if result["FailedEntryCount"]:
        gateway.metrics.count("PutEventsFailedEntriesCount", result["FailedEntryCount"])
    if batch:
        return _json(result)
    (outcome,) = result["Entries"]
    if "EventId" in outcome:
        return _json({"EventId": outcome["EventId"]}, status=202)
    status = 503 if outcome["ErrorCode"] == "InternalFailure" else 400
    return _error(outcome["ErrorCode"], outcome["ErrorMessage"], status)


async def too_many_connections(scope: Any, receive: Any, send: Any) -> None:
    """The answer on a connection past ``--max-connections``: 503, and the connection closed."""
    response = _error(
        "ThrottlingException",
        "The gateway has too many open connections (--max-connections); retry after "
        f"{RETRY_AFTER_SECONDS} s.",
        503,
        close=True,
    )
    await response(scope, receive, send)


def _healthz(gateway: Gateway) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            await gateway.redis.ping()
            routers = await live_routers(gateway.redis)
        except (RedisError, OSError):
            return Response(orjson.dumps({"status": "unavailable", "redis": False, "routers": []}),
                            status_code=503, media_type="application/json")  # fmt: skip
        status = "ok" if routers else "no-routers"
        payload = {"status": status, "redis": True, "routers": routers}
        return Response(orjson.dumps(payload), status_code=200 if routers else 503,
                        media_type="application/json")  # fmt: skip

    return endpoint


def _metrics(gateway: Gateway) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            # This process's latest counts first, so the page is current for it at least.
            await gateway.metrics.flush()
            text = await render_metrics(gateway.redis)
        except (RedisError, OSError) as e:
            return _error("ServiceUnavailableException", f"Redis is not reachable: {e}", 503)
        return Response(text, media_type=PROMETHEUS_CONTENT_TYPE)

    return endpoint


def create_app(gateway: Gateway) -> Starlette:
    """The ASGI application serving ``gateway``; its lifespan runs the metrics flusher."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway.metrics.start()
        try:
            yield
        finally:
            await gateway.metrics.aclose()
            if gateway.workflow_tasks is not None:
                await gateway.workflow_tasks.aclose()

    routes = [
        Route("/", _publishing(gateway, _aws_json), methods=["POST"]),
        # `path`: an event-bus ARN holds a "/" (raw, or %2F, which arrives decoded).
        Route("/cloudevents/{bus:path}", _publishing(gateway, _cloudevents), methods=["POST"]),
        Route("/healthz", _healthz(gateway), methods=["GET"]),
        Route("/metrics", _metrics(gateway), methods=["GET"]),
    ]
    return Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _unrouted}
    )
