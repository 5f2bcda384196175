"""The ``workflow`` target: a rule starts an execution, once per delivery, as an EventBridge
rule starts a Step Functions execution."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from eventbus.client import AsyncEventBusClient
from eventbus.errors import RuleFileError
from eventbus.rule_watch import RuleWatch, load_rules_and_workflows
from eventbus.targets.base import DeliveryContext
from eventbus.targets.workflow import execution_name
from eventbus.worker import Router, RouterOptions
from eventbus.workflows.executions import Executions

from .durable import until_closed
from .helpers import machine

GREET = machine({"Greet": {"Type": "Pass", "Parameters": {"hello.$": "$.who"}, "End": True}})

RULES = """bus: default
rules:
  - name: greet-on-signup
    event_pattern: {source: [shop.users], detail-type: [Signed Up]}
    targets:
      - id: greet
        type: workflow
        state_machine: {machine}
        input_path: $.detail
"""


def project(root: Path, machine_name: str = "greet") -> tuple[Path, Path]:
    (root / "rules").mkdir()
    (root / "workflows").mkdir()
    (root / "rules" / "greet.yaml").write_text(RULES.replace("{machine}", machine_name))
    (root / "workflows" / "greet.asl.json").write_text(GREET)
    return root / "rules", root / "workflows"


async def test_a_rule_starts_an_execution_and_a_redelivery_starts_no_second(
    redis: Redis, tmp_path: Path
) -> None:
    rules, workflows = project(tmp_path)
    watch = RuleWatch(rules, workflows=workflows)
    options = RouterOptions(claim_idle=0.5, block_ms=20, workflows=True)
    router = Router(redis, rules, options, rule_watch=watch)
    await router.start()
    task = asyncio.create_task(router.run())
    api = Executions(redis, {"greet": GREET})
    try:
        client = AsyncEventBusClient(redis)
        answer = await client.put_events([{"Source": "shop.users", "DetailType": "Signed Up",
                                           "Detail": '{"who": "ada"}'}])
        event_id = answer["Entries"][0]["EventId"]
        delivery_id = f"{event_id}:default:greet-on-signup:greet"
        arn = f"arn:aws:states:local:000000000000:execution:greet:{execution_name(delivery_id)}"
        async with asyncio.timeout(30):
            while not (await api.list_executions("greet"))["executions"]:
                await asyncio.sleep(0.02)
        done = await until_closed(api, arn)
        assert done["status"] == "SUCCEEDED"
        assert orjson.loads(done["output"]) == {"hello": "ada"}
        # The same delivery again (a retry, a redrive): its execution exists, nothing starts.
        lane = router.lanes[("default", "greet-on-signup", "greet")]
        ctx = DeliveryContext(delivery_id, event_id, "default", "greet-on-signup",
                              lane.rule.arn, "greet", 2, {})
        outcome = await lane.instance.send('{"who": "ada"}', ctx)
        assert outcome == {"executionArn": arn, "name": execution_name(delivery_id)}
    finally:
        router.stop()
        await asyncio.wait_for(task, 30)
    assert [e["executionArn"] for e in (await api.list_executions("greet"))["executions"]] == [arn]


def test_an_execution_name_is_a_uuid_of_the_delivery_id_that_aws_would_take() -> None:
    name = execution_name("e1:default:rule:target")
    assert name == execution_name("e1:default:rule:target") != execution_name("e2:default:rule:t")
    assert len(name) <= 80 and ":" not in name


def test_a_rule_naming_an_unknown_state_machine_is_refused_with_its_file_and_line(
    tmp_path: Path,
) -> None:
    rules, workflows = project(tmp_path, machine_name="greeet")
    with pytest.raises(RuleFileError) as refused:
        load_rules_and_workflows(rules, workflows)
    [problem] = refused.value.problems
    assert problem.file == str(rules / "greet.yaml") and problem.line == 3
    assert problem.rule == "greet-on-signup"
    assert "'greeet'" in problem.message and "greet" in problem.message
    assert str(problem).startswith(f"{rules / 'greet.yaml'}:3: rule greet-on-signup: targets[0]")


def test_without_workflow_files_a_workflow_target_is_refused(tmp_path: Path) -> None:
    rules, _ = project(tmp_path)
    with pytest.raises(RuleFileError, match="no state machine named 'greet'"):
        load_rules_and_workflows(rules, None)


ROOT = Path(__file__).parents[2]


def status_change(machine_name: str, status: str) -> dict[str, object]:
    """A status-change event as the bus stores it, from the runtime's own PutEvents entry."""
    from eventbus.workflows.status_events import status_event

    arn = f"arn:aws:states:local:000000000000:execution:{machine_name}:run-1"
    record = {"arn": arn, "machine": machine_name, "name": "run-1", "input": "{}",
              "start_ms": "1"}
    entry = orjson.loads(status_event(record, status, stop_ms=2, output="{}"))
    return {"source": entry["Source"], "detail-type": entry["DetailType"],
            "detail": orjson.loads(entry["Detail"]), "resources": entry["Resources"]}


def test_the_shipped_hourly_pipeline_starts_its_workflow_and_reacts_to_its_success() -> None:
    ruleset, catalog = load_rules_and_workflows(ROOT / "rules", ROOT / "workflows")
    schedule = ruleset.rule("default", "hourly-partitions")
    [target] = schedule.targets
    assert schedule.schedule is not None
    assert (target.type, target.config.state_machine) == ("workflow", "hourly-partitions")
    assert catalog.get("hourly-partitions") is not None
    reaction = ruleset.rule("default", "hourly-partitions-succeeded").pattern
    assert reaction is not None
    assert reaction.matches(status_change("hourly-partitions", "SUCCEEDED"))
    assert not reaction.matches(status_change("hourly-partitions", "FAILED"))
    assert not reaction.matches(status_change("another-machine", "SUCCEEDED"))


GREET_EXPRESS = machine({"Greet": {
    "Type": "Task", "Resource": "arn:eventbus:states:::target:redis_stream", "End": True,
    "Parameters": {"stream": "greetings", "Payload": {"hello.$": "$.who",
                                                      "execution.$": "$$.Execution.Id"}}}})


async def test_a_rule_starts_an_express_execution_which_a_worker_runs(
    redis: Redis, tmp_path: Path
) -> None:
    rules, workflows = project(tmp_path)
    (workflows / "greet.asl.json").unlink()
    (workflows / "greet.express.asl.json").write_text(GREET_EXPRESS)
    watch = RuleWatch(rules, workflows=workflows)
    options = RouterOptions(claim_idle=0.5, block_ms=20, workflows=True)
    router = Router(redis, rules, options, rule_watch=watch)
    await router.start()
    task = asyncio.create_task(router.run())
    try:
        client = AsyncEventBusClient(redis)
        await client.put_events([{"Source": "shop.users", "DetailType": "Signed Up",
                                  "Detail": '{"who": "ada"}'}])
        async with asyncio.timeout(30):
            while not await redis.xlen("greetings"):
                await asyncio.sleep(0.02)
    finally:
        router.stop()
        await asyncio.wait_for(task, 30)
    [(_, fields)] = await redis.xrange("greetings")
    sent = orjson.loads(fields[b"payload"])
    assert sent["hello"] == "ada"
    assert sent["execution"].startswith("arn:aws:states:local:000000000000:express:greet:")
    # Express executions keep no record: nothing is listed as a durable execution.
    assert not await redis.keys("eb:{wf:p*}:x:*")


def held_then(result: str) -> str:
    """A machine that hands its task token to the stream ``held`` and waits, then answers
    ``result``."""
    return machine({
        "Hold": {"Type": "Task",
                 "Resource": "arn:eventbus:states:::target:redis_stream.waitForTaskToken",
                 "Parameters": {"stream": "held", "Payload": {"token.$": "$$.Task.Token"}},
                 "ResultPath": None, "Next": "Answer"},
        "Answer": {"Type": "Pass", "Result": result, "End": True},
    })


async def test_an_execution_keeps_the_definition_it_started_with_when_its_file_changes(
    redis: Redis, tmp_path: Path
) -> None:
    from eventbus.workflows.activities import Activities

    rules, workflows = project(tmp_path)
    (workflows / "greet.asl.json").write_text(held_then("first"))
    watch = RuleWatch(rules, workflows=workflows)
    options = RouterOptions(claim_idle=0.5, block_ms=20, workflows=True)
    router = Router(redis, rules, options, rule_watch=watch)
    await router.start()
    task = asyncio.create_task(router.run())
    client, api = AsyncEventBusClient(redis), Executions(redis, {})

    async def signed_up() -> tuple[str, str]:
        """Publish a sign-up; the started execution's ARN and the token it holds."""
        held = await redis.xlen("held")
        answer = await client.put_events([{"Source": "shop.users", "DetailType": "Signed Up",
                                           "Detail": '{"who": "ada"}'}])
        delivery_id = f"{answer['Entries'][0]['EventId']}:default:greet-on-signup:greet"
        async with asyncio.timeout(30):
            while len(entries := await redis.xrange("held")) == held:
                await asyncio.sleep(0.02)
        token = orjson.loads(entries[-1][1][b"payload"])["token"]
        return (f"arn:aws:states:local:000000000000:execution:greet:"
                f"{execution_name(delivery_id)}", token)

    try:
        first, first_token = await signed_up()
        version = router.workflows.get("greet").version  # type: ignore[union-attr]
        (workflows / "greet.asl.json").write_text(held_then("second"))
        async with asyncio.timeout(30):
            while router.workflows.get("greet").version == version:  # type: ignore[union-attr]
                await asyncio.sleep(0.02)
        second, second_token = await signed_up()
        for token in (first_token, second_token):
            await Activities(redis).send_task_success(token, "{}")
        assert (await until_closed(api, first))["output"] == '"first"'
        assert (await until_closed(api, second))["output"] == '"second"'
    finally:
        router.stop()
        await asyncio.wait_for(task, 30)
