"""The ``airflow`` target: trigger a DAG run through Apache Airflow's stable REST API, a preset
over :mod:`eventbus.targets.http`.

Rule example::

    - id: nightly-load
      type: airflow
      base_url: https://airflow.example.com
      dag_id: load_orders
      airflow_version: 2          # 2: /api/v1/... (default); 3: /api/v2/...
      auth: {type: basic, username: eventbus, password_env: AIRFLOW_PASSWORD}

It POSTs ``{base_url}/api/v1/dags/{dag_id}/dagRuns`` (``/api/v2/...`` for Airflow 3) with
``{"dag_run_id": ..., "conf": <the payload, a JSON object>}``; Airflow 3 also gets
``"logical_date": null`` (the field is required there, and ``null`` keeps two events with the same
time from clashing on Airflow's (dag_id, logical_date) uniqueness).

The run id is derived from the delivery id, which stays the same across retries and redrives, and
Airflow refuses a second run with an existing id with 409 Conflict: that answer counts as success,
so a retry never starts a second run.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar, Final
from urllib.parse import quote

import orjson

from eventbus.errors import TargetRejected
from eventbus.targets.base import DeliveryContext, TargetConfig, TargetServices
from eventbus.targets.configs import AirflowConfig, HttpConfig
from eventbus.targets.http import HttpTarget

__all__ = ["AirflowConfig", "AirflowTarget", "dag_run_id"]

RUN_ID_PREFIX: Final = "eventbus__"
# Airflow's default allowed_run_id_pattern is ^[A-Za-z0-9_.~:+-]+$; its run_id column holds 250.
_RUN_ID_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.~:+-]")
RUN_ID_MAX_CHARS: Final = 250
_ALREADY_EXISTS: Final = frozenset({409})


def dag_run_id(delivery_id: str) -> str:
    """A valid Airflow run id, the same for every attempt of one delivery and distinct between
    deliveries: the delivery id itself when it fits, else a readable prefix and a digest."""
    safe = _RUN_ID_UNSAFE.sub("_", delivery_id)
    run_id = RUN_ID_PREFIX + safe
    if safe == delivery_id and len(run_id) <= RUN_ID_MAX_CHARS:
        return run_id
    digest = hashlib.sha256(delivery_id.encode()).hexdigest()[:32]
    return f"{run_id[: RUN_ID_MAX_CHARS - len(digest) - 2]}__{digest}"


def dag_runs_url(config: AirflowConfig) -> str:
    api = "v1" if config.airflow_version == 2 else "v2"
    return f"{config.base_url.rstrip('/')}/api/{api}/dags/{quote(config.dag_id)}/dagRuns"


class AirflowTarget:
    """POST one DAG run per delivery; an existing run id (409) means it was already triggered."""

    config_model: ClassVar[type[TargetConfig]] = AirflowConfig

    def __init__(self, config: AirflowConfig, services: TargetServices) -> None:
        http = HttpConfig(
            url=dag_runs_url(config),
            method="POST",
            auth=config.auth,
            timeout_seconds=config.timeout_seconds,
            rate_limit_per_second=config.rate_limit_per_second,
        )
        self._http = HttpTarget(http, services)
        self._version = config.airflow_version

    async def send(self, payload: str, ctx: DeliveryContext) -> dict[str, Any] | None:
        body: dict[str, Any] = {"dag_run_id": dag_run_id(ctx.delivery_id), "conf": _conf(payload)}
        if self._version == 3:
            body["logical_date"] = None
        result = await self._http.deliver(orjson.dumps(body), ctx, accept=_ALREADY_EXISTS)
        return {**result, "dag_run_id": body["dag_run_id"], "created": result["status"] != 409}

    async def aclose(self) -> None:
        await self._http.aclose()


def _conf(payload: str) -> dict[str, Any]:
    try:
        conf = orjson.loads(payload)
    except orjson.JSONDecodeError:
        conf = None
    if not isinstance(conf, dict):
        raise TargetRejected(
            "airflow: conf must be a JSON object; shape the payload with input_transformer",
            code="INVALID_CONF",
        )
    return conf
