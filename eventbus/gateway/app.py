"""The gateway's Starlette application.

Routes: ``POST /`` (EventBridge's API, AWS JSON 1.1), ``POST /cloudevents/{bus}`` (CloudEvents;
the bus a name or an event-bus ARN, raw or percent-encoded), ``GET /healthz`` and ``GET /metrics``
(Prometheus text). The two publishing routes check the body cap (413), then SigV4 (unless
authentication is off), then the request itself. Every refusal, an unknown path or method
included, is an AWS JSON error ``{"__type", "message"}`` (its code also in ``x-amzn-ErrorType``,
where REST-JSON clients such as EventBridge Scheduler's look for it). An unexpected failure is
logged with its traceback and answered 500 ``InternalException`` without one.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventbus import bus
from eventbus.errors import BusError
from eventbus.gateway import actions
from eventbus.gateway.auth import authenticate
from eventbus.gateway.awsjson import CONTENT_TYPE, ApiError, error_body, read_call
from eventbus.gateway.cloudevents_route import publish_cloudevents, read_cloudevents
from eventbus.gateway.health import live_routers
from eventbus.gateway.state import Gateway
from eventbus.metrics import render_metrics
from eventbus.sigv4 import SignatureError

__all__ = ["create_app"]

log = logging.getLogger("eventbus.gateway")

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_INTERNAL_FAILURE = {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal Service Failure"}


def _json(payload: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(payload),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


def _error(
    code: str, message: str, status: int = 400, headers: dict[str, str] | None = None
) -> Response:
    answer_headers = {"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": code}
    return Response(
        error_body(code, message),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers=answer_headers | (headers or {}),
    )


_ROUTES_TEXT = (
    "the gateway serves POST / (EventBridge's API, X-Amz-Target: AWSEvents.<Action>), "
    "POST /cloudevents/{bus}, GET /healthz and GET /metrics"
)


async def _unrouted(request: Request, exc: Exception) -> Response:
    """A path or method no route serves (EventBridge Scheduler's paths, say): the AWS JSON error
    an SDK raises as ``UnknownOperationException``, instead of Starlette's plain text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    message = f"No operation at {request.method} {request.url.path}: {_ROUTES_TEXT}."
    return _error("UnknownOperationException", message, status, headers)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to be over ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        "RequestEntityTooLargeException",
        f"The request body is over the limit of {limit} bytes (--max-request-bytes).",
        status=413,
    )


Handler = Callable[[Gateway, Request, bytes], Awaitable[Response]]


def _publishing(gateway: Gateway, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A route that reads the capped body, authenticates it and maps every error to its answer."""

    async def endpoint(request: Request) -> Response:
        try:
            body = await _read_body(request, gateway.max_request_bytes)
            if gateway.secrets is not None:
                authenticate(request.scope, body, gateway.secrets)
            return await handler(gateway, request, body)
        except (ApiError, SignatureError) as e:
            return _error(e.code, e.message, getattr(e, "status", 400))
        except Exception:
            log.exception("unexpected failure answering %s %s", request.method, request.url.path)
            return _error("InternalException", "An internal error occurred.", 500)

    return endpoint


async def _aws_json(gateway: Gateway, request: Request, body: bytes) -> Response:
    action, params = read_call(
        request.headers.get("content-type", ""), request.headers.get("x-amz-target", ""), body
    )
    return _json(await actions.call(gateway, action, params))


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
