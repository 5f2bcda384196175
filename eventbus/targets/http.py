"""The ``http`` target: EventBridge API destinations' behaviour.

Rule example::

    - id: shop-api
      type: http
      url: https://api.example.com/orders/*/events      # `*` filled from path_parameters
      method: POST
      path_parameters: [$.detail.order_id]               # JSON paths read the original event
      query: {source: $.source, v: "2"}
      headers: {X-Tenant: $.detail.tenant}
      auth: {type: basic, username: eventbus, password_env: SHOP_API_PASSWORD}
      rate_limit_per_second: 50                           # shared by every router, via Redis
      timeout_seconds: 5

The body is the payload (the event, or the shaped input) for every method but GET and HEAD.
Every request carries ``Content-Type: application/json; charset=utf-8``,
``User-Agent: eventbus/<version>`` and ``X-Eventbus-Delivery-Id``. ``timeout_seconds`` is the
total deadline of a request (token fetch included), and at most 1 MiB of an answer is read: see
:mod:`eventbus.targets.http_response`, which also says what each answer means; authorization is
in :mod:`eventbus.targets.http_auth`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, ClassVar, Final

from eventbus import keys
from eventbus.targets.base import DeliveryContext, TargetConfig, TargetServices
from eventbus.targets.configs import DEFAULT_TIMEOUT_SECONDS, HttpConfig
from eventbus.targets.http_auth import build_auth
from eventbus.targets.http_client import Client, fetch, new_client
from eventbus.targets.http_params import RequestParts, header_values
from eventbus.targets.http_response import Answer, outcome
from eventbus.targets.ratelimit import RateLimiter

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "HttpConfig", "HttpTarget"]

log = logging.getLogger(__name__)

# From the installed distribution: the same text as eventbus.__version__, read without importing
# the package root.
USER_AGENT: Final = f"eventbus/{version('eventbus')}"
DELIVERY_ID_HEADER: Final = "X-Eventbus-Delivery-Id"
_BODYLESS: Final = frozenset({"GET", "HEAD"})
_REFRESH_STATUSES: Final = frozenset({401, 407})


class HttpTarget:
    """Send each payload as one HTTP request, on the router's HTTP session when it has one."""

    config_model: ClassVar[type[TargetConfig]] = HttpConfig

    def __init__(self, config: HttpConfig, services: TargetServices) -> None:
        self._method = config.method
        self._timeout = config.timeout_seconds
        self._parts = RequestParts(config.url, config.path_parameters, config.query, config.headers)
        self._fixed_headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            **self._parts.fixed_headers,
        }
        self._auth = build_auth(config.auth, config.timeout_seconds)
        self._client: Client = new_client(services.http, services.connections)
        self._limiter = _limiter(config, services)

    async def send(self, payload: str, ctx: DeliveryContext) -> dict[str, Any] | None:
        return await self.deliver(payload.encode(), ctx)

    async def deliver(
        self, body: bytes, ctx: DeliveryContext, *, accept: frozenset[int] = frozenset()
    ) -> dict[str, Any]:
        """Send ``body``; statuses in ``accept`` count as success besides 2xx (for presets)."""
        request = self._request(body, ctx)
        answer = await self._exchange(request)
        if answer.status in _REFRESH_STATUSES and self._auth.refreshable:
            self._auth.invalidate(request.headers)
            answer = await self._exchange(request)
        return outcome(answer, self._auth.redact, accept)

    def _request(self, body: bytes, ctx: DeliveryContext) -> _Request:
        event = ctx.event
        # Checked before any I/O: no retry can make a value read from the event fit in a header.
        read = header_values(
            {**self._parts.headers(event), DELIVERY_ID_HEADER: ctx.delivery_id}, ctx.event_id
        )
        content = None if self._method in _BODYLESS else body
        headers = {**self._fixed_headers, **read}
        return _Request(self._parts.url(event), self._parts.query(event), headers, content)

    async def _exchange(self, request: _Request) -> Answer:
        client = self._client
        if self._limiter is not None:
            await self._limiter.acquire()  # bounded by its own wait limit, not the deadline
        async with client.deadlines.within(self._timeout, self._method, request.url):
            # Auth headers win over the rule's, as connection parameters do in EventBridge.
            auth = await self._auth.headers(client)
            if auth:
                request.headers = {**request.headers, **auth}
            answer = await fetch(
                client,
                self._method,
                request.url,
                query=request.query,
                headers=request.headers,
                content=request.content,
                redact=self._auth.redact,
            )
        cut = " (body cut at 1 MiB)" if answer.truncated else ""
        log.debug("%s %s → %s%s", self._method, request.url, answer.status, cut)
        return answer

    async def aclose(self) -> None:
        await self._client.aclose()


@dataclass(slots=True)
class _Request:
    """One delivery's request, kept to resend it once after an OAuth token refresh."""

    url: str
    query: dict[str, str]
    headers: dict[str, str]
    content: bytes | None


def _limiter(config: HttpConfig, services: TargetServices) -> RateLimiter | None:
    if config.rate_limit_per_second is None:
        return None
    if services.redis is None:
        raise ValueError("http target: rate_limit_per_second needs the bus's Redis")
    key = keys.rate_limit(services.bus, services.rule, services.target_id)
    return RateLimiter(
        services.redis, key, config.rate_limit_per_second, max_wait=config.timeout_seconds
    )
