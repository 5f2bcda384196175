"""Rule files in CloudFormation's spelling: an ``AWS::Events::Rule``'s Properties, a whole
resource, or a template's ``Resources``; target ARNs mapped to targets; intrinsics refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_rules_config import SETTINGS, problems, write

from eventbus.arns import (
    TargetRef,
    TargetSettings,
    dead_letter_arn,
    stream_of_dead_letter_arn,
    target_arn,
    target_of_arn,
)
from eventbus.config import load_rules
from eventbus.errors import ArnError, RuleFileError
from eventbus.gateway import rule_views

AUDIT_BUS = "arn:aws:events:us-east-1:123456789012:event-bus/audit"


def test_a_rules_properties_are_a_rule_with_every_property_mapped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        """\
        bus: shop
        rules:
          - Name: props
            Description: written as CloudFormation Properties
            EventPattern: {source: [shop], detail-type: [OrderPlaced]}
            ScheduleExpression: rate(5 minutes)
            State: DISABLED
            Targets:
              - Id: constant
                Arn: arn:aws:events:us-east-1:123456789012:event-bus/audit
                Input: '{"kind": "constant"}'
                RetryPolicy: {MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 600}
                DeadLetterConfig: {Arn: "arn:eventbus:redis_stream:dlq.audit"}
              - Id: part
                Arn: arn:eventbus:redis_stream:parts
                InputPath: $.detail
              - Id: shaped
                Arn: arn:eventbus:redis_stream:shaped
                InputTransformer:
                  InputPathsMap: {order: $.detail.id}
                  InputTemplate: '{"order": <order>}'
        """,
    )
    rule = load_rules(path, settings=SETTINGS).rule("shop", "props")
    model = rule.model
    assert model.description == "written as CloudFormation Properties"
    assert model.event_pattern == {"source": ["shop"], "detail-type": ["OrderPlaced"]}
    assert model.schedule_expression == "rate(5 minutes)" and model.state == "DISABLED"
    constant, part, shaped = rule.targets
    assert (constant.id, constant.type) == ("constant", "bus")
    assert constant.config.model_dump(exclude_none=True) == {"bus_name": "audit"}
    assert constant.spec.input == {"kind": "constant"}
    retry = constant.retry
    assert (retry.maximum_retry_attempts, retry.maximum_event_age_seconds) == (3, 600)
    assert constant.dead_letter_stream == "dlq.audit"
    assert (part.type, part.spec.input_path) == ("redis_stream", "$.detail")
    assert part.config.model_dump()["stream"] == "parts"
    assert shaped.spec.input_transformer is not None
    assert shaped.spec.input_transformer.input_paths == {"order": "$.detail.id"}
    assert shaped.spec.input_transformer.input_template == '{"order": <order>}'


def test_a_whole_resource_is_a_rule_and_event_bus_name_is_its_bus(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        """\
        rules:
          - Type: AWS::Events::Rule
            Properties:
              Name: whole
              EventBusName: arn:aws:events:us-east-1:123456789012:event-bus/orders
              EventPattern: {source: [shop]}
              Targets: [{Id: t, Arn: "arn:eventbus:redis_stream:out"}]
          - Pasted:
              Type: AWS::Events::Rule
              Properties:
                EventBusName: orders
                EventPattern: {source: [shop]}
        """,
    )
    ruleset = load_rules(path, settings=SETTINGS)
    assert sorted(ruleset.buses["orders"].rules) == ["Pasted", "whole"]
    assert ruleset.rule("orders", "whole").arn.endswith(":rule/orders/whole")


def test_a_template_resources_section_is_read_at_the_top_of_a_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "template.yaml",
        """\
        AWSTemplateFormatVersion: "2010-09-09"
        Description: a template pasted whole
        Resources:
          AuditBus:
            Type: AWS::Events::EventBus
            Properties: {Name: audit}
          OrdersToAudit:
            Type: AWS::Events::Rule
            Properties:
              EventPattern: {source: [shop]}
              Targets: [{Id: audit, Arn: "arn:aws:events:us-east-1:123456789012:event-bus/audit"}]
        """,
    )
    ruleset = load_rules(path, settings=SETTINGS)
    rule = ruleset.rule("default", "OrdersToAudit")  # the logical id names the rule
    assert rule.targets[0].config.model_dump()["bus_name"] == "audit"
    (ignored,) = ruleset.warnings
    assert ignored.line == 4 and "only AWS::Events::Rule resources are read" in ignored.message


def test_an_arn_listtargetsbyrule_shows_names_that_target(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        """\
        bus: shop
        rules:
          - name: orders
            event_pattern: {source: [shop]}
            targets: [{id: hook, type: http, url: "http://localhost:9/orders", method: PUT}]
        """,
    )
    ruleset = load_rules(tmp_path, settings=SETTINGS)
    params = {"Rule": "orders", "EventBusName": "shop"}
    (shown,) = rule_views.list_targets_by_rule(ruleset, params, SETTINGS)["Targets"]
    write(
        tmp_path,
        "b.yaml",
        f"""\
        rules:
          - Name: again
            EventPattern: {{source: [shop]}}
            Targets: [{{Id: same, Arn: "{shown["Arn"]}"}}]
        """,
    )
    (copy,) = load_rules(tmp_path, settings=SETTINGS).rule("default", "again").targets
    assert (copy.id, copy.type) == ("same", "http")
    assert copy.config == ruleset.rule("shop", "orders").targets[0].config


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        ("arn:eventbus:http:eu-test-1:123456789012:shop/orders/nope", "no rule file has it"),
        (
            "arn:eventbus:log:eu-test-1:123456789012:shop/orders/hook",
            "the target it names is 'http'",
        ),
    ],
)
def test_an_arn_of_ours_naming_no_such_target_is_an_error(
    tmp_path: Path, arn: str, message: str
) -> None:
    write(
        tmp_path,
        "a.yaml",
        "bus: shop\nrules:\n  - name: orders\n    event_pattern: {a: [1]}\n"
        "    targets: [{id: hook, type: http, url: 'http://x'}]\n",
    )
    write(
        tmp_path,
        "b.yaml",
        f"rules:\n  - Name: r\n    EventPattern: {{a: [1]}}\n"
        f"    Targets: [{{Id: t, Arn: '{arn}'}}]\n",
    )
    (found,) = problems(tmp_path)
    assert found.field == "Targets[0].Arn" and message in found.message


@pytest.mark.parametrize(
    ("arn", "instead"),
    [
        ("arn:aws:sqs:us-east-1:123456789012:orders", "`redis_list` or `redis_stream` target"),
        ("arn:aws:lambda:us-east-1:123456789012:function:f", "`python` target"),
        ("arn:aws:events:us-east-1:123456789012:api-destination/d/1", "`http` target"),
        ("arn:aws:s3:::bucket", "ListTargetsByRule"),
    ],
)
def test_an_aws_services_arn_is_an_error_naming_what_to_write(
    tmp_path: Path, arn: str, instead: str
) -> None:
    text = f"rules:\n  - Name: r\n    EventPattern: {{a: [1]}}\n    Targets:\n      - Id: t\n        Arn: {arn}\n"  # noqa: E501
    (found,) = problems(write(tmp_path, "r.yaml", text))
    assert (found.line, found.rule, found.field) == (6, "r", "Targets[0].Arn")
    assert "is not a target eventbus can deliver to" in found.message and instead in found.message


@pytest.mark.parametrize(
    ("value", "intrinsic"),
    [
        ("!Ref OrdersQueue", "!Ref"),
        ("!GetAtt OrdersQueue.Arn", "!GetAtt"),
        ("!Sub 'arn:aws:sqs:${AWS::Region}:1:q'", "!Sub"),
        ('{"Fn::GetAtt": [OrdersQueue, Arn]}', "Fn::GetAtt"),
        ("{Ref: OrdersQueue}", "Ref"),
        ("!Join [':', [arn, aws, sqs]]", "!Join"),
        ("!If [IsProd, a, b]", "!If"),
        # spelt with escapes, so the file's text holds neither `Ref` nor `Fn::`
        ('{"R\\x65f": OrdersQueue}', "Ref"),
        ('{"Fn\\x3a:GetAtt": [OrdersQueue, Arn]}', "Fn::GetAtt"),
    ],
)
def test_intrinsics_are_refused_with_file_and_line(
    tmp_path: Path, value: str, intrinsic: str
) -> None:
    text = f"rules:\n  - Name: r\n    EventPattern: {{a: [1]}}\n    Targets:\n      - Id: t\n        Arn: {value}\n"  # noqa: E501
    path = write(tmp_path, "r.yaml", text)
    (found,) = problems(path)  # nothing else echoes the unresolved value
    assert (found.file, found.line) == (str(path), 6)
    assert f"intrinsic `{intrinsic}` cannot be resolved" in found.message
    assert str(found).startswith(f"{path}:6: ")


def test_an_intrinsic_inside_a_pattern_or_an_input_is_the_only_problem_reported(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        """\
        rules:
          - name: r
            event_pattern: {source: [!Ref Source], detail: {a: [1]}}
            targets:
              - {id: t, type: log, input: {region: !Ref AWS::Region}}
        """,
    )
    found = [(p.line, p.field) for p in problems(path)]
    assert found == [
        (3, "rules[0].event_pattern.source[0]"),
        (5, "rules[0].targets[0].input.region"),
    ]


def test_a_field_named_ref_in_a_pattern_is_not_an_intrinsic(tmp_path: Path) -> None:
    text = "rules:\n  - name: r\n    event_pattern: {detail: {Ref: [x]}}\n"
    assert load_rules(write(tmp_path, "r.yaml", text), settings=SETTINGS).rule("default", "r")


def test_problems_of_a_cloudformation_rule_use_its_property_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        """\
        rules:
          - Name: r
            EventPatern: {source: [a]}
            ScheduleExpression: rate(1 minute)
            State: ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS
            RoleArn: arn:aws:iam::123456789012:role/r
            Targets:
              - Id: t
                Arn: arn:eventbus:redis_stream:s
                Input: 'not json'
                RetryPolicy:
                  MaximumRetryAttempts: 999
        """,
    )
    with pytest.raises(RuleFileError) as caught:
        load_rules(path, settings=SETTINGS)
    found = {(p.line, p.field): p.message for p in caught.value.problems}
    assert (
        found[(3, "EventPatern")] == "unknown CloudFormation property; did you mean `EventPattern`?"
    )
    assert (5, "State") in found
    assert found[(10, "Targets[0].Input")].startswith("Input must be JSON text")
    assert (12, "Targets[0].RetryPolicy.MaximumRetryAttempts") in found
    (warning,) = caught.value.warnings
    assert (warning.line, warning.field) == (6, "RoleArn") and "ignored" in warning.message


# --- the ARN module on its own ----------------------------------------------------------------

_NAMES = st.from_regex(r"[.\-_A-Za-z0-9]{1,20}", fullmatch=True)


@given(
    type_name=st.sampled_from(["http", "log", "redis_stream", "bus"]),
    bus=_NAMES,
    rule=_NAMES,
    target=_NAMES,
)
def test_a_target_arn_reads_back_as_the_target_it_names(
    type_name: str, bus: str, rule: str, target: str
) -> None:
    arn = target_arn(type_name, "eu-test-1", "123456789012", bus, rule, target)
    assert target_of_arn(arn) == TargetRef(type_name, bus, rule, target)


@given(stream=st.text(min_size=1, max_size=40))
def test_a_dead_letter_arn_reads_back_as_its_stream(stream: str) -> None:
    assert stream_of_dead_letter_arn(dead_letter_arn(stream)) == stream


def test_a_dead_letter_arn_as_a_target_is_a_stream_target() -> None:
    expected = TargetSettings("redis_stream", {"stream": "dlq.orders"})
    assert target_of_arn(dead_letter_arn("dlq.orders")) == expected


def test_an_event_bus_arn_is_a_bus_target() -> None:
    assert target_of_arn(AUDIT_BUS) == TargetSettings("bus", {"bus_name": "audit"})


@pytest.mark.parametrize("arn", ["arn:eventbus:http:somewhere", "arn:aws:sqs:us-east-1:1:q", ""])
def test_other_arns_are_arn_errors(arn: str) -> None:
    with pytest.raises(ArnError):
        target_of_arn(arn)
