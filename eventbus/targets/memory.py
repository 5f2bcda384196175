"""The ``memory`` target: records deliveries in this process; for tests and dry runs.

Rule example (dry run: see what a rule set would deliver without sending anything)::

    - id: dry
      type: memory
      name: orders-dry        # optional; recorded(name) returns what was delivered

A named target also records into a process-wide registry, so a test can read what a target
built by the runtime received. ``fail_first`` makes the first N sends fail (retryably, or for good
with ``fail_permanently``), to exercise retries and dead letters with a real target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from eventbus.errors import TargetError, TargetRejected
from eventbus.targets.base import DeliveryContext, TargetConfig, TargetServices

__all__ = ["MemoryConfig", "MemoryTarget", "Recorded", "forget", "recorded"]


class MemoryConfig(TargetConfig):
    name: str | None = Field(default=None, min_length=1, description="registry name")
    fail_first: int = Field(default=0, ge=0, description="fail this many sends before succeeding")
    fail_permanently: bool = Field(default=False, description="the failures are permanent")


@dataclass(frozen=True, slots=True)
class Recorded:
    payload: str
    ctx: DeliveryContext


# The registry is the point of this target (reading deliveries made inside a router), so it is
# the one deliberate piece of shared mutable state among the built-in targets.
_REGISTRY: dict[str, list[Recorded]] = {}


def recorded(name: str) -> list[Recorded]:
    """Deliveries recorded by every memory target named ``name`` (a live list)."""
    return _REGISTRY.setdefault(name, [])


def forget(name: str | None = None) -> None:
    """Empty the registry entry ``name``, or all of them."""
    if name is None:
        _REGISTRY.clear()
    else:
        _REGISTRY.pop(name, None)


class MemoryTarget:
    """Append each delivery to ``self.deliveries`` (and to the registry when named)."""

    config_model: ClassVar[type[TargetConfig]] = MemoryConfig

    def __init__(self, config: MemoryConfig, services: TargetServices) -> None:
        self._config = config
        self._failures_left = config.fail_first
        self.deliveries: list[Recorded] = recorded(config.name) if config.name else []
        self.closed = False

    async def send(self, payload: str, ctx: DeliveryContext) -> dict[str, Any] | None:
        if self._failures_left > 0:
            self._failures_left -= 1
            if self._config.fail_permanently:
                raise TargetRejected("memory target told to refuse", code="MEMORY_REFUSED")
            raise TargetError("memory target told to fail", code="MEMORY_FAILED")
        self.deliveries.append(Recorded(payload, ctx))
        return {"count": len(self.deliveries)}

    async def aclose(self) -> None:
        self.closed = True
