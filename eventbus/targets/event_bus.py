"""The ``bus`` target: put the event on another bus, whose rules then apply to it.

Rule example::

    - id: to-audit
      type: bus
      bus_name: audit              # a bus name (or its ARN)

What is put on the target bus depends on the payload (the shaped input):

* the whole event (no input shaping, or a transformer that rebuilds an envelope): a JSON object
  with ``source``, ``detail-type`` and ``detail`` is forwarded as that event: its ``source``,
  ``detail-type``, ``detail``, ``resources`` and ``time``. The target bus gives it a new id, as
  EventBridge does for bus-to-bus delivery.
* anything else: the payload becomes the ``detail`` of an event keeping the original event's
  ``source``, ``detail-type`` and ``resources`` (``source`` and ``detail_type`` settings override
  them); a payload that is not a JSON object is wrapped as ``{"payload": <value>}``.

The hop count goes up by one on each forward, so a loop of rules is stopped by the runtime's hop
limit (``LOOP_DETECTED``).
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Final

import orjson
from pydantic import Field

from eventbus.errors import BusError, TargetError, TargetRejected
from eventbus.targets.base import DeliveryContext, TargetConfig, TargetServices

__all__ = ["BusConfig", "BusTarget", "forwarded_entry"]

_ENVELOPE_KEYS: Final = ("source", "detail-type", "detail")
# PutEvents error codes that a retry can cure; any other refusal of the entry is permanent.
_RETRYABLE_CODES: Final = frozenset({"InternalFailure", "ThrottlingException", "InternalException"})


class BusConfig(TargetConfig):
    bus_name: str = Field(min_length=1, max_length=1600)
    source: str | None = Field(default=None, min_length=1, max_length=256)
    detail_type: str | None = Field(default=None, min_length=1, max_length=256)


def forwarded_entry(payload: str, ctx: DeliveryContext, config: BusConfig) -> dict[str, Any]:
    """The PutEvents entry that forwards ``payload`` (see the module docstring)."""
    value = _json(payload)
    if isinstance(value, dict) and all(k in value for k in _ENVELOPE_KEYS):
        origin, detail = value, value["detail"]
    else:
        origin = ctx.event
        detail = value if isinstance(value, dict) else {"payload": value}
    try:
        detail_text = orjson.dumps(detail).decode()
    except orjson.JSONEncodeError as e:
        # Nested deeper than JSON can be written here (254 levels): the same payload would be
        # refused every time, so it is refused for good, as PutEvents refuses such a Detail.
        raise TargetRejected(
            f"the payload cannot be a Detail: {e}", code="MalformedDetail"
        ) from None
    entry: dict[str, Any] = {
        "EventBusName": config.bus_name,
        "Source": config.source or origin.get("source"),
        "DetailType": config.detail_type or origin.get("detail-type"),
        "Detail": detail_text,
        "Resources": origin.get("resources") or [],
    }
    if origin is value and origin.get("time"):
        entry["Time"] = origin["time"]
    return entry


def _json(payload: str) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload  # a plain-text payload (a string template's output)


class BusTarget:
    """Publish the payload as one event on ``bus_name`` with the hop count raised by one."""

    config_model: ClassVar[type[TargetConfig]] = BusConfig

    def __init__(self, config: BusConfig, services: TargetServices) -> None:
        if services.publish is None:
            raise ValueError("the bus target needs the runtime's publish service")
        self._config = config
        self._publish = services.publish

    async def send(self, payload: str, ctx: DeliveryContext) -> dict[str, Any] | None:
        entry = forwarded_entry(payload, ctx, self._config)
        try:
            result = self._publish([entry], hops=ctx.hops + 1)
            if inspect.isawaitable(result):
                result = await result
        except BusError as e:
            raise TargetError(
                f"bus {self._config.bus_name!r} unavailable: {e}", code="BUS_ERROR"
            ) from e
        [answer] = result["Entries"]
        if "EventId" in answer and not answer.get("ErrorCode"):
            return {"bus": self._config.bus_name, "event_id": answer["EventId"]}
        raise _refusal(answer, self._config.bus_name)

    async def aclose(self) -> None:
        return None


def _refusal(answer: dict[str, Any], bus: str) -> TargetError:
    code = answer.get("ErrorCode") or "PUT_EVENTS_FAILED"
    message = f"bus {bus!r} refused the event: {code}: {answer.get('ErrorMessage', '')}"
    if code in _RETRYABLE_CODES:
        return TargetError(message, code=code)
    return TargetRejected(message, code=code)
