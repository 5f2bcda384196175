"""The ``python`` target: call a function of yours with each payload.

Rule example::

    - id: enrich
      type: python
      function: myapp.handlers:on_order     # module:function, importable by the router
      timeout_seconds: 30                   # optional

The function is called as ``function(payload: str, ctx: DeliveryContext)``. A coroutine function
is awaited on the router's loop; a plain function runs in a worker thread so it cannot stall other
deliveries. A ``dict`` it returns becomes the outcome of the delivery (for chained steps). An
exception it raises is retried, unless it is :class:`~eventbus.errors.TargetRejected` (or any
``TargetError`` with ``retryable=False``), which dead-letters the delivery at once.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine
from typing import Any, ClassVar

from eventbus.errors import TargetError, TargetTimeout
from eventbus.targets.base import DeliveryContext, TargetConfig, TargetServices
from eventbus.targets.configs import PythonConfig, resolve_function

__all__ = ["PythonConfig", "PythonTarget", "resolve_function"]


class PythonTarget:
    """Call ``function(payload, ctx)``, in a thread unless it is a coroutine function."""

    config_model: ClassVar[type[TargetConfig]] = PythonConfig

    def __init__(self, config: PythonConfig, services: TargetServices) -> None:
        self._function = resolve_function(config.function)
        self._is_async = inspect.iscoroutinefunction(self._function)
        self._name = config.function
        self._timeout = config.timeout_seconds

    async def send(self, payload: str, ctx: DeliveryContext) -> dict[str, Any] | None:
        call = self._call(payload, ctx)
        try:
            result = await (call if self._timeout is None else self._within_timeout(call))
        except TargetError:
            raise
        except Exception as e:
            raise TargetError(
                f"{self._name} raised {type(e).__name__}: {e}", code="PYTHON_ERROR"
            ) from e
        return result if isinstance(result, dict) else None

    async def _within_timeout(self, call: Coroutine[Any, Any, Any]) -> Any:
        # A thread cannot be stopped: on timeout it finishes in the background, its result unused.
        try:
            return await asyncio.wait_for(call, self._timeout)
        except TimeoutError as e:
            raise TargetTimeout(f"{self._name} did not return within {self._timeout} s") from e

    async def _call(self, payload: str, ctx: DeliveryContext) -> Any:
        if self._is_async:
            return await self._function(payload, ctx)
        return await asyncio.to_thread(self._function, payload, ctx)

    async def aclose(self) -> None:
        return None
