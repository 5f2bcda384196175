"""What the AWS-style tasks of one workflow worker share: the publisher, the HTTP session, and
the connections HTTP tasks authorize with, each built once and kept across invocations (an
OAuth token is fetched once per connection, not per call).

The connections come from the rule files (:attr:`eventbus.ruleset.RuleSet.connections`); a
reload hands the new ones to :meth:`TaskServices.set_connections`, which rebuilds only the
connections whose settings changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eventbus import keys
from eventbus.connections import ConnectionSpec
from eventbus.settings import Settings, get_settings
from eventbus.targets.http_auth import Auth, build_auth
from eventbus.targets.http_client import DEFAULT_CONNECTIONS, Client, Sessions, new_client
from eventbus.targets.ratelimit import RateLimiter

__all__ = ["LiveConnection", "Publish", "TaskServices"]

# put_events(entries, hops=n) -> the PutEvents answer: AsyncEventBusClient.put_events.
Publish = Callable[..., Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class LiveConnection:
    """A connection ready to send through: its auth (with any cached token), its share of the
    session (at most ``connection_limit`` requests in flight) and its rate limiter."""

    spec: ConnectionSpec
    auth: Auth
    client: Client
    limiter: RateLimiter | None


class TaskServices:
    """Built once per worker; ``aclose`` when the worker stops."""

    def __init__(
        self,
        *,
        redis: Any,
        publish: Publish,
        connections: Mapping[str, ConnectionSpec] | None = None,
        http: Sessions | None = None,
        connection_limit: int = DEFAULT_CONNECTIONS,
        settings: Settings | None = None,
    ) -> None:
        self.redis = redis
        self.publish = publish
        self.settings = settings or get_settings()
        self._sessions = http or Sessions()
        self._owns_sessions = http is None
        self._limit = connection_limit
        self._specs: dict[str, ConnectionSpec] = dict(connections or {})
        self._live: dict[str, LiveConnection] = {}
        # Definitions of the machines startExecution tasks may start, by name, besides those
        # created over the Step Functions API (kept in Redis).
        self.definitions: Mapping[str, str] = {}

    def set_connections(self, connections: Mapping[str, ConnectionSpec]) -> None:
        """The connections after a rules reload; one whose settings changed is rebuilt."""
        self._specs = dict(connections)
        stale = [n for n, live in self._live.items() if self._specs.get(n) != live.spec]
        for name in stale:
            del self._live[name]  # its client shares the session: nothing to close

    def connection(self, name: str) -> LiveConnection | None:
        """The connection ``name``, built on first use; None when no rule file declares it."""
        live = self._live.get(name)
        if live is None:
            spec = self._specs.get(name)
            if spec is None:
                return None
            live = self._live[name] = self._build(spec)
        return live

    def _build(self, spec: ConnectionSpec) -> LiveConnection:
        limiter = None
        if spec.rate_limit_per_second is not None:
            limiter = RateLimiter(
                self.redis,
                keys.connection_rate_limit(spec.name),
                spec.rate_limit_per_second,
                max_wait=spec.timeout_seconds,
            )
        return LiveConnection(
            spec,
            build_auth(spec.auth, spec.timeout_seconds),
            new_client(self._sessions, self._limit),
            limiter,
        )

    async def aclose(self) -> None:
        self._live.clear()
        if self._owns_sessions:
            await self._sessions.aclose()
