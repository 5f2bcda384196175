"""The one interface every target implements, built-in or plugin.

A target class is built once per (rule, target) from its rule-file settings and then asked to
``send`` many payloads. ``send`` returns normally when the delivery succeeded and raises
:class:`~eventbus.errors.TargetError` otherwise; ``retryable`` on the error decides between a
retry and the dead letters. Any other exception counts as a retryable failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from eventbus.errors import TargetError, TargetRejected, TargetTimeout

if TYPE_CHECKING:  # the HTTP client library is loaded only by what sends HTTP
    from eventbus.targets.http_client import Sessions

__all__ = [
    "DeliveryContext",
    "Target",
    "TargetConfig",
    "TargetError",
    "TargetRejected",
    "TargetServices",
    "TargetTimeout",
]


class TargetConfig(BaseModel):
    """Base of each target type's own settings: the rule file's target fields minus the common ones
    (``id``, ``type``, input shaping, ``retry_policy``, ``dead_letter``, ``emit_outcome``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def load_problems(self) -> list[tuple[str, str]]:
        """(field, message) for what would make every delivery fail and can be seen when rules
        load (a directory that cannot be created, a module that does not import), so it is
        reported then rather than at the first delivery. None by default."""
        return []


# Not frozen: one is made per delivery, and a frozen dataclass takes several times as long to
# build. Targets treat it as read-only.
@dataclass(slots=True)
class DeliveryContext:
    """What a target knows about the delivery it is sending."""

    delivery_id: str  # <event-id>:<bus>:<rule>:<target-id>; the same across retries and redrives
    event_id: str
    bus: str
    rule: str
    rule_arn: str
    target_id: str
    attempt: int  # 1 for the first attempt
    event: dict[str, Any]  # the original event (paths in target settings read from it)
    hops: int = 0  # how many bus-to-bus hops the event has made
    extra: dict[str, Any] = field(default_factory=dict)  # runtime services (e.g. "redis")


@dataclass(frozen=True, slots=True)
class TargetServices:
    """What the runtime lends a target when it builds it (shared by all targets of a router)."""

    redis: Any  # redis.asyncio.Redis of the bus (rate limits, streams, lists)
    # put_events(entries, hops=n) on the bus's Redis: the `bus` target and outcome events use it
    publish: Any = None
    target_id: str = ""
    rule: str = ""
    bus: str = ""
    # The router's HTTP session (one pool of connections for all its targets); None: a target
    # sending HTTP makes its own.
    http: Sessions | None = None
    # The most connections one target holds at once: the router gives its lanes' concurrency.
    connections: int = 64
    # () -> the WorkflowCatalog in force (the `workflow` target starts its machines); None: none.
    workflows: Any = None


@runtime_checkable
class Target(Protocol):
    """Send payloads somewhere. Implementations must be safe to ``aclose`` twice."""

    config_model: ClassVar[type[TargetConfig]]

    # Constructed as ``cls(config, services)`` with ``config`` an instance of ``config_model``.

    async def send(self, payload: str, ctx: DeliveryContext) -> dict[str, Any] | None:
        """Deliver ``payload`` (the shaped input text). Return optional outcome details
        (e.g. ``{"status": 200, "body": {...}}``) for chained steps."""
        ...

    async def aclose(self) -> None: ...
