"""The shipped example pipeline (rules/hourly-pipeline.yaml, workflows/hourly-partitions.asl.json)
run end to end by a router: its schedule fires at the top of the hour and starts the workflow,
whose Map calls a real local partition service over HTTP; the success rule reacts to the status
change; a partition that keeps failing is caught into the dead-letter notification."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis
from targets.conftest import HttpServer, Received, Reply

from eventbus import keys
from eventbus.rule_watch import RuleWatch
from eventbus.worker import Router, RouterOptions
from eventbus.workflows.catalog import load_workflows
from eventbus.workflows.executions import Executions

from .durable import until_closed

ROOT = Path(__file__).parents[2]
MACHINE = "hourly-partitions"
HOUR = datetime(2030, 1, 1, 10, tzinfo=UTC)


class SlowClock:
    """Scheduler time ten times faster than real time, from just before ``HOUR``: the hourly
    schedule fires once, at ``HOUR``, and not again before the test ends."""

    def __init__(self) -> None:
        self.moment = HOUR - timedelta(seconds=1)

    def now(self) -> datetime:
        return self.moment

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / 10)
        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def service() -> Iterator[HttpServer]:
    server = HttpServer()
    failing: set[str] = set()

    def process(request: Received) -> Reply:
        body = request.json()
        if body["partition"] in failing:
            return Reply(404, {"message": "no such partition"})
        return Reply(200, {"partition": body["partition"], "rows": 1000})

    server.answer("/partitions/process", process)
    server.failing = failing  # type: ignore[attr-defined]
    yield server
    server.close()


def shipped_example(root: Path, service_url: str) -> Path:
    """The example's files as shipped, with its schedule enabled and the service's address."""
    (root / "rules").mkdir()
    (root / "workflows").mkdir()
    rules = (ROOT / "rules" / "hourly-pipeline.yaml").read_text()
    assert "    state: DISABLED\n" in rules
    (root / "rules" / "hourly-pipeline.yaml").write_text(
        rules.replace("    state: DISABLED\n", "    state: ENABLED\n"))
    definition = (ROOT / "workflows" / f"{MACHINE}.asl.json").read_text()
    assert "http://localhost:8080" in definition
    (root / "workflows" / f"{MACHINE}.asl.json").write_text(
        definition.replace("http://localhost:8080", service_url))
    return root


async def bus_events(redis: Redis, detail_type: str) -> list[dict[str, object]]:
    found = []
    for _, fields in await redis.xrange(keys.bus_stream("default", 0)):
        event = orjson.loads(fields[b"event"])
        if event["detail-type"] == detail_type:
            found.append(event)
    return found


async def test_the_example_pipeline_runs_from_its_schedule_and_catches_a_failing_partition(
    redis: Redis, tmp_path: Path, service: HttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = shipped_example(tmp_path, service.url)
    watch = RuleWatch(root / "rules", workflows=root / "workflows")
    options = RouterOptions(claim_idle=0.5, block_ms=20, workflows=True)
    router = Router(redis, root / "rules", options, rule_watch=watch, clock=SlowClock())
    await router.start()
    task = asyncio.create_task(router.run())
    api = Executions(redis, {m.name: m.text for m in load_workflows(root / "workflows")})
    announced: list[dict[str, object]] = []
    try:
        async with asyncio.timeout(30):
            while not (listed := await api.list_executions(MACHINE))["executions"]:
                await asyncio.sleep(0.02)
        [started] = listed["executions"]
        done = await until_closed(api, started["executionArn"])
        assert done["status"] == "SUCCEEDED", done
        assert orjson.loads(done["input"])["time"] == "2030-01-01T10:00:00Z"
        output = orjson.loads(done["output"])
        assert output["results"] == [{"partition": p, "rows": 1000} for p in output["partitions"]]
        assert len(service.requests("/partitions/process")) == 4
        # The success rule logs the execution, one JSON line on standard output.
        async with asyncio.timeout(30):
            while not announced:
                lines = capsys.readouterr().out.splitlines()
                announced += [orjson.loads(line) for line in lines if '"announce"' in line]
                await asyncio.sleep(0.02)
        payload = orjson.loads(announced[0]["payload"])  # type: ignore[arg-type]
        assert payload["execution"] == started["executionArn"]
        assert not await redis.xlen(keys.bus_dead_letters("default"))

        # A partition the service does not know: not retried (404), caught, notified, failed.
        service.failing.add("us-west")  # type: ignore[attr-defined]
        again = await api.start_execution(MACHINE, '{"time": "2030-01-01T11:00:00Z"}', "h11")
        failed = await until_closed(api, again["executionArn"])
        assert (failed["status"], failed["error"]) == ("FAILED", "PartitionPipelineFailed")
        async with asyncio.timeout(30):
            while not (notified := await bus_events(redis, "Partition Pipeline Failed")):
                await asyncio.sleep(0.02)
        [notice] = notified
        assert notice["source"] == "pipeline.hourly-partitions"
        assert notice["detail"]["hour"] == "2030-01-01T11:00:00Z"  # type: ignore[index]
        assert notice["detail"]["error"] == "States.Http.StatusCode.404"  # type: ignore[index]
    finally:
        router.stop()
        await asyncio.wait_for(task, 30)
