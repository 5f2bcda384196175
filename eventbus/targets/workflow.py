"""The ``workflow`` target: start an execution of a state machine of the workflow files, as an
EventBridge rule targets Step Functions.

Rule example::

    - id: run-pipeline
      type: workflow
      state_machine: hourly-partitions     # workflows/hourly-partitions.asl.json
      input: {"time": "2026-05-01T10:00:00Z"}   # shaped as for any target; JSON

The shaped input is the execution's input (it must be JSON, as StartExecution's is). Each
execution is named with a UUIDv5 of the delivery id, which is the same on every retry and
redrive of one delivery, so a redelivered event finds its execution started already: the
``ExecutionAlreadyExists`` that answers is a success, and no second execution starts. The
outcome details are ``{"executionArn": ..., "name": ...}`` (plus ``startDate`` when this
delivery started it).

An EXPRESS machine's execution is queued for the workflow workers instead
(:mod:`eventbus.workflows.express`): Express executions are at least once and their names are
not unique, so a redelivered event starts it again, as on AWS.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Final

from redis.exceptions import RedisError

from eventbus.errors import (
    ExecutionAlreadyExists,
    InvalidExecutionInput,
    RequestRejected,
    TargetError,
    TargetRejected,
)
from eventbus.targets.base import DeliveryContext, TargetConfig, TargetServices
from eventbus.targets.configs import WorkflowConfig
from eventbus.workflows.arns import execution_arn
from eventbus.workflows.catalog import WorkflowCatalog
from eventbus.workflows.executions import Executions
from eventbus.workflows.express import ExpressExecutions

__all__ = ["CatalogTexts", "WorkflowConfig", "WorkflowTarget", "execution_name"]

# The namespace of execution names: fixed, so a delivery id names the same execution in every
# process and release.
NAMESPACE: Final = uuid.UUID("6f1b3c2e-5d0a-5b7e-9a43-2c8e1f0d7b64")


def execution_name(delivery_id: str) -> str:
    """The execution a delivery starts: 36 characters, no ``:`` (AWS allows 80, none)."""
    return str(uuid.uuid5(NAMESPACE, delivery_id))


class CatalogTexts(Mapping[str, str]):
    """The definition texts of the catalog in force, read at each start (a reload changes it)."""

    def __init__(self, catalog: Callable[[], WorkflowCatalog]) -> None:
        self._catalog = catalog

    def __getitem__(self, name: str) -> str:
        machine = self._catalog().get(name)
        if machine is None:
            raise KeyError(name)
        return machine.text

    def typed(self, name: str) -> tuple[str, str] | None:
        """The (type, definition) of ``name``, for the Express API."""
        machine = self._catalog().get(name)
        return None if machine is None else (machine.type, machine.text)

    def __iter__(self) -> Iterator[str]:
        return iter(self._catalog().machines)

    def __len__(self) -> int:
        return len(self._catalog())


class WorkflowTarget:
    """Start one execution of ``state_machine`` per delivery, at most once."""

    config_model: ClassVar[type[TargetConfig]] = WorkflowConfig

    def __init__(self, config: WorkflowConfig, services: TargetServices) -> None:
        catalog = services.workflows or WorkflowCatalog
        self._machine = config.state_machine
        self._texts = CatalogTexts(catalog)
        self._executions = Executions(services.redis, self._texts)
        self._redis = services.redis

    async def send(self, payload: str, ctx: DeliveryContext) -> dict[str, Any] | None:
        name = execution_name(ctx.delivery_id)
        typed = self._texts.typed(self._machine)
        try:
            if typed is not None and typed[0] == "EXPRESS":
                express = ExpressExecutions(self._redis, {self._machine: typed})
                started = await express.start_execution(self._machine, payload, name)
            else:
                started = await self._executions.start_execution(self._machine, payload, name)
        except ExecutionAlreadyExists:
            arn = execution_arn(self._machine, name, self._executions.settings)
            return {"executionArn": arn, "name": name}
        except (InvalidExecutionInput, RequestRejected) as e:
            # The same payload would be refused on every retry.
            raise TargetRejected(str(e), code=getattr(e, "code", type(e).__name__)) from e
        except (RedisError, OSError) as e:
            raise TargetError(f"cannot start {name} of {self._machine}: Redis: {e}",
                              code="REDIS_ERROR") from e
        return {"executionArn": started["executionArn"], "name": name,
                "startDate": started["startDate"].isoformat()}

    async def aclose(self) -> None:
        return None
