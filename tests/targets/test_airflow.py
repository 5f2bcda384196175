"""The airflow target: the DAG run request Airflow 2 and 3 expect, and a run id that makes retries
idempotent (409 for an existing run counts as success)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from eventbus.errors import TargetError
from eventbus.targets.airflow import AirflowConfig, AirflowTarget, dag_run_id
from eventbus.targets.base import TargetServices

from .conftest import HttpServer, Received, Reply, make_ctx

SERVICES = TargetServices(redis=None, bus="shop", rule="orders", target_id="t1")


class FakeAirflow:
    """Checks each trigger like Airflow's API does and keeps the runs it created."""

    def __init__(self, server: HttpServer, version: int) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.version = version
        api = "v1" if version == 2 else "v2"
        server.answer(f"/api/{api}/dags/load_orders/dagRuns", self.trigger)

    def trigger(self, request: Received) -> Reply:
        body = request.json()
        allowed = {"dag_run_id", "conf"} | ({"logical_date"} if self.version == 3 else set())
        if set(body) - allowed or (self.version == 3 and "logical_date" not in body):
            return Reply(400, {"detail": f"bad body {sorted(body)}"})
        if body["dag_run_id"] in self.runs:
            return Reply(409, {"detail": "DAG Run already exists"})
        self.runs[body["dag_run_id"]] = body
        return Reply(200, {"dag_run_id": body["dag_run_id"], "state": "queued"})


def airflow(server: HttpServer, **extra: Any) -> AirflowTarget:
    config = AirflowConfig.model_validate(
        {"base_url": server.url + "/", "dag_id": "load_orders", **extra}
    )
    return AirflowTarget(config, SERVICES)


@pytest.mark.parametrize("version", [2, 3])
async def test_triggers_a_dag_run_with_the_payload_as_conf(
    http_server: HttpServer, version: int
) -> None:
    fake = FakeAirflow(http_server, version)
    target = airflow(http_server, airflow_version=version)
    outcome = await target.send('{"order": "o-42"}', make_ctx())
    await target.aclose()
    [run] = fake.runs.values()
    assert run["conf"] == {"order": "o-42"}
    assert run["dag_run_id"] == dag_run_id(make_ctx().delivery_id)
    if version == 3:
        assert run["logical_date"] is None
    assert outcome is not None and (outcome["status"], outcome["created"]) == (200, True)


async def test_a_retry_never_starts_a_second_run(http_server: HttpServer) -> None:
    # Given a trigger that reached Airflow (e.g. the answer was lost and the delivery is retried)
    fake = FakeAirflow(http_server, 2)
    target = airflow(http_server)
    await target.send("{}", make_ctx(attempt=1))
    # When the same delivery is sent again
    outcome = await target.send("{}", make_ctx(attempt=2))
    await target.aclose()
    # Then Airflow holds one run and the retry counts as delivered
    assert len(fake.runs) == 1
    assert outcome is not None and (outcome["status"], outcome["created"]) == (409, False)


async def test_other_deliveries_start_their_own_runs(http_server: HttpServer) -> None:
    fake = FakeAirflow(http_server, 2)
    target = airflow(http_server)
    for target_id in ("a", "b"):
        await target.send("{}", make_ctx(target=target_id))
    await target.aclose()
    assert len(fake.runs) == 2


async def test_basic_auth_is_sent(http_server: HttpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_PASSWORD", "pw")
    FakeAirflow(http_server, 2)
    auth = {"type": "basic", "username": "admin", "password_env": "AIRFLOW_PASSWORD"}
    target = airflow(http_server, auth=auth)
    await target.send("{}", make_ctx())
    await target.aclose()
    expected = "Basic " + base64.b64encode(b"admin:pw").decode()
    assert http_server.received[0].headers["authorization"] == expected


async def test_conf_must_be_a_json_object(http_server: HttpServer) -> None:
    target = airflow(http_server)
    with pytest.raises(TargetError) as err:
        await target.send("[1, 2]", make_ctx())
    await target.aclose()
    assert (err.value.retryable, err.value.code) == (False, "INVALID_CONF")


@pytest.mark.parametrize(
    "delivery_id",
    [
        "6a7e8feb-b491-4cf7-a9f1-bf3703467718:shop:orders:t1",
        "id:bus with space:rule:t",
        "x" * 400,
    ],
)
def test_run_ids_are_stable_valid_and_distinct(delivery_id: str) -> None:
    run_id = dag_run_id(delivery_id)
    assert run_id == dag_run_id(delivery_id)
    assert len(run_id) <= 250
    assert all(c.isalnum() or c in "_.~:+-" for c in run_id)
    assert run_id != dag_run_id(delivery_id + "2")


@pytest.mark.timeout(30)
async def test_a_trickled_answer_times_out_at_the_deadline(http_server: HttpServer) -> None:
    http_server.answer("/api/v1/dags/load_orders/dagRuns", Reply(body=b"x" * 50, drip=0.2))
    target = airflow(http_server, timeout_seconds=0.3)
    with pytest.raises(TargetError) as err:
        await target.send('{"a": 1}', make_ctx())
    await target.aclose()
    assert (err.value.retryable, err.value.code) == (True, "TIMEOUT")
