"""Rule files: YAML 1.2 loading, the models' rules, and problems located by file, line, rule and
field."""

from __future__ import annotations

import gc
import textwrap
from pathlib import Path

import pytest

from eventbus.config import RuleSet, collector_paused, load_rules, rule_file_schema
from eventbus.errors import RuleFileError, RuleProblem
from eventbus.settings import Settings

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
SETTINGS = Settings(account="123456789012", region="eu-test-1")

LOG_RULE = """\
bus: {bus}
rules:
  - name: {name}
    event_pattern: {{source: [shop]}}
    targets:
      - {{id: t, type: log}}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[RuleProblem]:
    with pytest.raises(RuleFileError) as caught:
        load_rules(path, settings=SETTINGS)
    return caught.value.problems


def one_problem(tmp_path: Path, text: str) -> RuleProblem:
    found = problems(write(tmp_path, "rules.yaml", text))
    assert len(found) == 1, found
    return found[0]


def rule_with(extra: str, *, targets: str = "[{id: t, type: log}]") -> str:
    """A valid rule with ``extra`` lines added under it."""
    lines = textwrap.indent(textwrap.dedent(extra), "    ")
    return f"rules:\n  - name: r\n{lines}    targets: {targets}\n"


# --- the contract example and the shipped examples ---------------------------------------------


def test_the_issue_example_loads_as_written() -> None:
    ruleset = load_rules(DATA / "issue_example.yaml", settings=SETTINGS)
    assert list(ruleset.buses) == ["default"]
    orders = ruleset.rule("default", "big-orders")
    assert orders.arn == "arn:aws:events:eu-test-1:123456789012:rule/big-orders"
    assert orders.model.description == "Orders over 100 go to fulfilment"
    assert orders.pattern is not None and orders.schedule is None
    (fulfilment,) = orders.targets
    assert (fulfilment.id, fulfilment.type) == ("fulfilment", "redis_stream")
    assert fulfilment.config.stream == "fulfilment.orders"  # type: ignore[attr-defined]
    assert fulfilment.retry.maximum_retry_attempts == 3
    assert fulfilment.retry.maximum_event_age_seconds == 600
    assert fulfilment.dead_letter_stream == "dlq.fulfilment"
    nightly = ruleset.rule("default", "nightly-export")
    assert nightly.schedule is not None and nightly.schedule.timezone == "Europe/Berlin"
    assert nightly.pattern is None and nightly.enabled
    (export,) = nightly.targets
    assert export.spec.input == {"kind": "nightly"}
    assert export.config.url == "http://localhost:8080/exports"  # type: ignore[attr-defined]


def test_the_example_input_transformer_renders_the_event() -> None:
    from eventbus.transform import InputContext

    ruleset = load_rules(DATA / "issue_example.yaml", settings=SETTINGS)
    (target,) = ruleset.rule("default", "big-orders").targets
    event = {"detail": {"order_id": "o-1", "total": 150}}
    assert target.input.render(event, InputContext()) == '{"order": "o-1", "total": 150}'


def test_the_shipped_example_rules_load() -> None:
    ruleset = load_rules(ROOT / "rules", settings=SETTINGS)
    assert {"default", "shop", "data-pipeline"} <= set(ruleset.buses)
    assert 3 <= len(list((ROOT / "rules").glob("*.yaml"))) <= 6


def test_every_shipped_example_opens_with_a_comment() -> None:
    for path in (ROOT / "rules").glob("*.yaml"):
        assert path.read_text().startswith("# "), path


# --- YAML 1.2 core schema ---------------------------------------------------------------------


def test_yaml_1_1_booleans_and_dates_stay_strings_inside_a_pattern(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        """\
        rules:
          - name: strings
            event_pattern:
              detail:
                flag: [on]
                answer: [yes, no, off]
                day: [2024-01-01]
                at: [2024-01-01T10:00:00Z]
                real: [true, 1.5, 7, null]
        """,
    )
    detail = load_rules(path, settings=SETTINGS).rule("default", "strings").model.event_pattern
    assert detail == {
        "detail": {
            "flag": ["on"],
            "answer": ["yes", "no", "off"],
            "day": ["2024-01-01"],
            "at": ["2024-01-01T10:00:00Z"],
            "real": [True, 1.5, 7, None],
        }
    }
    assert all(type(v) is str for v in detail["detail"]["day"] + detail["detail"]["flag"])


def test_models_are_strict_so_yes_is_not_true(tmp_path: Path) -> None:
    found = one_problem(tmp_path, rule_with("event_pattern: {a: [1]}\n", targets="[{id: t, type: log, emit_outcome: yes}]"))  # noqa: E501
    assert found.field == "targets[0].emit_outcome"


def test_an_empty_file_is_an_empty_default_bus(tmp_path: Path) -> None:
    ruleset = load_rules(write(tmp_path, "empty.yaml", "# nothing yet\n"), settings=SETTINGS)
    assert list(ruleset.buses) == ["default"] and not ruleset.buses["default"].rules


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "rules:\n  - name: a\n    targets: [1\n  - name: b\n")
    (found,) = problems(path)
    assert found.file == str(path) and found.line == 4
    assert found.message.startswith("YAML syntax error")


def test_a_duplicate_key_is_a_yaml_error_with_its_line(tmp_path: Path) -> None:
    found = one_problem(tmp_path, "bus: a\nbus: b\n")
    assert found.line == 2 and "duplicate key" in found.message


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    assert "mapping" in one_problem(tmp_path, "- a\n- b\n").message


def test_a_path_that_does_not_exist_is_a_problem(tmp_path: Path) -> None:
    (found,) = problems(tmp_path / "missing")
    assert "no such file" in found.message


# --- rules -------------------------------------------------------------------------------------


def test_a_rule_needs_a_pattern_or_a_schedule(tmp_path: Path) -> None:
    found = one_problem(tmp_path, rule_with(""))
    assert found.rule == "r" and "event_pattern, a schedule_expression, or both" in found.message


def test_a_rule_may_have_both_a_pattern_and_a_schedule(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", rule_with("event_pattern: {a: [1]}\nschedule_expression: rate(5 minutes)\n"))  # noqa: E501
    rule = load_rules(path, settings=SETTINGS).rule("default", "r")
    assert rule.pattern is not None and rule.schedule is not None


def test_state_defaults_to_enabled_and_accepts_only_enabled_or_disabled(tmp_path: Path) -> None:
    path = write(tmp_path, "ok.yaml", rule_with("event_pattern: {a: [1]}\n"))
    assert load_rules(path, settings=SETTINGS).rule("default", "r").enabled
    found = one_problem(tmp_path, rule_with("event_pattern: {a: [1]}\nstate: enabled\n"))
    assert (found.field, found.line) == ("state", 4)


@pytest.mark.parametrize("name", ["bad name", "a/b", "x" * 65, ""])
def test_rule_names_follow_eventbridges_pattern(tmp_path: Path, name: str) -> None:
    found = one_problem(tmp_path, LOG_RULE.format(bus="default", name=f"'{name}'"))
    assert found.field == "name" and found.line == 3


def test_rule_names_allow_dots_dashes_and_underscores(tmp_path: Path) -> None:
    name = "a.b-c_D9" + "x" * 56
    path = write(tmp_path, "r.yaml", LOG_RULE.format(bus="default", name=name))
    assert load_rules(path, settings=SETTINGS).rule("default", name)


def test_rule_names_are_unique_per_bus_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", LOG_RULE.format(bus="shop", name="dup"))
    write(tmp_path, "b.yaml", LOG_RULE.format(bus="shop", name="dup"))
    (found,) = problems(tmp_path)
    assert found.file.endswith("b.yaml") and found.line == 3 and found.rule == "dup"
    assert "a.yaml:3" in found.message


def test_the_same_rule_name_on_two_buses_is_fine(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", LOG_RULE.format(bus="shop", name="same"))
    write(tmp_path, "b.yaml", LOG_RULE.format(bus="billing", name="same"))
    ruleset = load_rules(tmp_path, settings=SETTINGS)
    assert ruleset.rule("billing", "same").arn.endswith(":rule/billing/same")


def test_an_unknown_rule_field_is_reported_with_its_line(tmp_path: Path) -> None:
    found = one_problem(tmp_path, rule_with("event_pattern: {a: [1]}\nevnt_pattern: {}\n"))
    assert (found.field, found.line) == ("evnt_pattern", 4)
    assert found.message == "unknown field; did you mean `event_pattern`?"


def test_a_pattern_must_be_a_mapping_or_json_text(tmp_path: Path) -> None:
    found = one_problem(tmp_path, rule_with("event_pattern: [1]\n"))
    assert found.field == "event_pattern"
    path = write(tmp_path, "ok.yaml", rule_with("""event_pattern: '{"source": ["a"]}'\n"""))
    assert load_rules(path, settings=SETTINGS).rule("default", "r").pattern is not None


def test_an_invalid_pattern_is_reported_at_its_field(tmp_path: Path) -> None:
    text = rule_with("event_pattern:\n  detail:\n    total: 5\n")
    found = one_problem(tmp_path, text)
    assert found.rule == "r" and (found.field or "").startswith("event_pattern")
    assert found.line in (3, 4, 5)


# --- schedules ---------------------------------------------------------------------------------


def test_an_invalid_schedule_expression_is_reported_on_its_field(tmp_path: Path) -> None:
    found = one_problem(tmp_path, rule_with("schedule_expression: cron(0 1 * * * *)\n"))
    assert (found.field, found.line, found.rule) == ("schedule_expression", 3, "r")


def test_an_unknown_time_zone_is_refused(tmp_path: Path) -> None:
    text = rule_with("schedule_expression: rate(1 day)\ntimezone: Mars/Olympus\n")
    assert one_problem(tmp_path, text).field == "timezone"


def test_schedule_bounds_need_an_offset_and_end_after_start(tmp_path: Path) -> None:
    text = rule_with("schedule_expression: rate(1 day)\nstart_date: 2024-01-01T00:00:00\n")
    assert one_problem(tmp_path, text).field == "start_date"
    bounds = "start_date: 2024-02-01T00:00:00Z\nend_date: 2024-01-01T00:00:00+01:00\n"
    text = rule_with("schedule_expression: rate(1 day)\n" + bounds)
    assert one_problem(tmp_path, text).field == "end_date"


def test_schedule_extras_load(tmp_path: Path) -> None:
    extras = """\
        schedule_expression: cron(0 2 * * ? *)
        timezone: Europe/Berlin
        start_date: 2024-01-01T00:00:00+01:00
        end_date: 2030-01-01T00:00:00Z
        flexible_time_window: {mode: FLEXIBLE, maximum_window_minutes: 15}
        catch_up: all
    """
    rule = load_rules(write(tmp_path, "r.yaml", rule_with(extras)), settings=SETTINGS).rule(
        "default", "r"
    )
    assert rule.model.catch_up == "all" and rule.model.start_date is not None
    window = rule.model.flexible_time_window
    assert window is not None and window.maximum_window_minutes == 15


def test_catch_up_defaults_to_latest(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", rule_with("schedule_expression: rate(1 day)\n"))
    assert load_rules(path, settings=SETTINGS).rule("default", "r").model.catch_up == "latest"


@pytest.mark.parametrize(
    "extra",
    [
        "catch_up: some\n",
        "flexible_time_window: {mode: FLEXIBLE}\n",
        "flexible_time_window: {mode: OFF, maximum_window_minutes: 1441}\n",
    ],
)
def test_invalid_schedule_extras_are_refused(tmp_path: Path, extra: str) -> None:
    found = one_problem(tmp_path, rule_with("schedule_expression: rate(1 day)\n" + extra))
    assert (found.field or "").split(".")[0] in {"catch_up", "flexible_time_window"}


def test_schedules_are_allowed_on_any_bus(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "bus: jobs\n" + rule_with("schedule_expression: rate(1 day)\n"))  # noqa: E501
    ruleset = load_rules(path, settings=SETTINGS)
    assert [r.name for r in ruleset.scheduled_rules()] == ["r"]


# --- targets -----------------------------------------------------------------------------------


def test_at_most_five_targets(tmp_path: Path) -> None:
    targets = "[" + ", ".join(f"{{id: t{i}, type: log}}" for i in range(6)) + "]"
    found = one_problem(tmp_path, rule_with("event_pattern: {a: [1]}\n", targets=targets))
    assert found.field == "targets"


def test_target_ids_are_unique_in_a_rule(tmp_path: Path) -> None:
    targets = "[{id: t, type: log}, {id: t, type: log}]"
    found = one_problem(tmp_path, rule_with("event_pattern: {a: [1]}\n", targets=targets))
    assert found.field == "targets" and "'t'" in found.message


def test_an_unknown_target_type_lists_the_known_ones(tmp_path: Path) -> None:
    targets = "[{id: t, type: carrier-pigeon}]"
    found = one_problem(tmp_path, rule_with("event_pattern: {a: [1]}\n", targets=targets))
    assert found.field == "targets[0].type" and "carrier-pigeon" in found.message
    assert "log" in found.message and "redis_stream" in found.message


def test_type_specific_fields_are_checked_by_the_targets_config_model(tmp_path: Path) -> None:
    text = """\
    rules:
      - name: r
        event_pattern: {a: [1]}
        targets:
          - id: ok
            type: redis_stream
            stream: s
          - id: bad
            type: redis_stream
            stream: s
            colour: blue
          - id: missing
            type: redis_stream
    """
    found = problems(write(tmp_path, "r.yaml", text))
    assert [(p.field, p.line) for p in found] == [
        ("targets[1].colour", 11),
        ("targets[2].stream", 12),
    ]


def test_retry_policy_ranges_follow_eventbridge(tmp_path: Path) -> None:
    targets = (
        "[{id: t, type: log, retry_policy: "
        "{maximum_retry_attempts: 186, maximum_event_age_seconds: 59}}]"
    )
    found = problems(write(tmp_path, "r.yaml", rule_with("event_pattern: {a: [1]}\n", targets=targets)))  # noqa: E501
    assert {p.field for p in found} == {
        "targets[0].retry_policy.maximum_retry_attempts",
        "targets[0].retry_policy.maximum_event_age_seconds",
    }


def test_retry_policy_defaults_to_185_attempts_and_a_day(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", LOG_RULE.format(bus="default", name="r"))
    (target,) = load_rules(path, settings=SETTINGS).rule("default", "r").targets
    assert (target.retry.maximum_retry_attempts, target.retry.maximum_event_age_seconds) == (
        185,
        86_400,
    )


def test_an_invalid_input_template_is_reported_at_its_field(tmp_path: Path) -> None:
    text = """\
    rules:
      - name: r
        event_pattern: {a: [1]}
        targets:
          - id: t
            type: log
            input_transformer:
              input_paths: {a: $.detail.a}
              input_template: '{"a": <b>}'
    """
    (found,) = problems(write(tmp_path, "r.yaml", text))
    assert (found.field, found.line, found.rule) == ("targets[0].input_transformer.input_template", 9, "r")  # noqa: E501


def test_only_one_input_mode_per_target(tmp_path: Path) -> None:
    targets = "[{id: t, type: log, input: {a: 1}, input_path: $.detail}]"
    found = one_problem(tmp_path, rule_with("event_pattern: {a: [1]}\n", targets=targets))
    assert found.field == "targets[0]" and "Only one of Input" in found.message


def test_input_is_any_yaml_value_and_null_counts_as_given(tmp_path: Path) -> None:
    from eventbus.transform import InputContext

    targets = "[{id: n, type: log, input: null}, {id: s, type: log, input: [1, on]}]"
    path = write(tmp_path, "r.yaml", rule_with("event_pattern: {a: [1]}\n", targets=targets))
    nothing, listed = load_rules(path, settings=SETTINGS).rule("default", "r").targets
    assert nothing.spec.has_input and nothing.input.render({}, InputContext()) == "null"
    assert listed.input.render({}, InputContext()) == '[1,"on"]'


# --- buses -------------------------------------------------------------------------------------


def test_at_most_one_bus_config_per_bus(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "bus: shop\nbus_config: {partitions: 2}\n")
    write(tmp_path, "b.yaml", "bus: shop\nbus_config: {partitions: 4}\n")
    (found,) = problems(tmp_path)
    assert (found.file.endswith("b.yaml"), found.field, found.line) == (True, "bus_config", 2)


def test_bus_config_fields_are_checked(tmp_path: Path) -> None:
    found = one_problem(tmp_path, "bus: shop\nbus_config:\n  partitions: 0\n")
    assert (found.field, found.line, found.rule) == ("bus_config.partitions", 3, None)
    assert one_problem(tmp_path, "bus_config: {shards: 2}\n").field == "bus_config.shards"


def test_a_bus_config_applies_to_the_bus_whatever_file_holds_it(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "bus: shop\nbus_config: {partitions: 3, dead_letter: {stream: dl}}\n")
    write(tmp_path, "b.yaml", LOG_RULE.format(bus="shop", name="r"))
    ruleset = load_rules(tmp_path, settings=SETTINGS)
    assert ruleset.buses["shop"].config.partitions == 3
    (target,) = ruleset.rule("shop", "r").targets
    assert target.dead_letter_stream == "dl"


def test_a_bus_without_config_gets_the_defaults(tmp_path: Path) -> None:
    ruleset = load_rules(write(tmp_path, "a.yaml", LOG_RULE.format(bus="x", name="r")))
    assert ruleset.buses["x"].config.partitions == 1
    assert ruleset.rule("x", "r").targets[0].dead_letter_stream is None


def test_bus_names_follow_eventbridges_pattern(tmp_path: Path) -> None:
    assert one_problem(tmp_path, "bus: a/b\n").field == "bus"


# --- all problems at once, located ---------------------------------------------------------------


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", rule_with("schedule_expression: rate(0 minutes)\n"))
    write(tmp_path, "sub/b.yaml", "bus: other\nrules:\n  - name: x\n    state: ON\n")
    write(tmp_path, "c.yml", "rules: [\n")
    found = problems(tmp_path)
    located = [(Path(p.file).name, p.line, p.rule, p.field) for p in found]
    assert ("a.yaml", 3, "r", "schedule_expression") in located
    assert ("b.yaml", 4, "x", "state") in located
    assert any(name == "c.yml" and line is not None for name, line, _, _ in located)


def test_a_bad_header_does_not_hide_the_rules_problems(tmp_path: Path) -> None:
    text = "bus: a/b\n" + rule_with("schedule_expression: rate(0 minutes)\n")
    found = problems(write(tmp_path, "r.yaml", text))
    assert [(p.field, p.line) for p in found] == [("bus", 1), ("schedule_expression", 4)]


def test_a_problem_reads_file_line_rule_field_message() -> None:
    problem = RuleProblem("rules/a.yaml", "bad", 3, "r", "targets[0].url")
    assert str(problem) == "rules/a.yaml:3: rule r: targets[0].url: bad"


# --- the rule set --------------------------------------------------------------------------------


def example_ruleset(tmp_path: Path) -> RuleSet:
    text = """\
    bus: shop
    rules:
      - name: on
        event_pattern: {source: [shop]}
        targets: [{id: a, type: log}, {id: b, type: log}]
      - name: off
        state: DISABLED
        event_pattern: {source: [shop]}
        targets: [{id: c, type: log}]
      - name: tick
        schedule_expression: rate(5 minutes)
        targets: [{id: d, type: log}]
    """
    return load_rules(write(tmp_path, "r.yaml", text), settings=SETTINGS)


def test_the_matcher_holds_enabled_pattern_rules_only(tmp_path: Path) -> None:
    ruleset = example_ruleset(tmp_path)
    matcher = ruleset.matcher("shop")
    assert matcher.match({"source": "shop", "detail": {}}) == ["on"]
    assert len(ruleset.buses["shop"].rules) == 3
    assert len(ruleset.matcher("nobody")) == 0


def test_deliveries_list_every_bus_rule_target_triple(tmp_path: Path) -> None:
    triples = [(bus, r.name, t.id) for bus, r, t in example_ruleset(tmp_path).deliveries()]
    assert triples == [
        ("shop", "on", "a"),
        ("shop", "on", "b"),
        ("shop", "off", "c"),
        ("shop", "tick", "d"),
    ]


def test_rule_arns_name_the_bus_unless_it_is_the_default(tmp_path: Path) -> None:
    ruleset = example_ruleset(tmp_path)
    assert ruleset.rule("shop", "on").arn == "arn:aws:events:eu-test-1:123456789012:rule/shop/on"
    with pytest.raises(KeyError):
        ruleset.rule("shop", "missing")


def test_rules_remember_where_they_were_written(tmp_path: Path) -> None:
    rule = example_ruleset(tmp_path).rule("shop", "off")
    assert rule.file.endswith("r.yaml") and rule.line == 6


# --- JSON Schema ---------------------------------------------------------------------------------


def test_the_json_schema_describes_a_rule_file() -> None:
    schema = rule_file_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["properties"]) == {"bus", "bus_config", "connections", "rules", "archives"}
    rule = schema["$defs"]["Rule"]
    assert rule["properties"]["state"]["enum"] == ["ENABLED", "DISABLED"]
    assert rule["properties"]["targets"]["maxItems"] == 5
    assert schema["$defs"]["TargetSpec"]["additionalProperties"] is True


def test_the_json_schema_knows_each_target_types_own_fields() -> None:
    branches = rule_file_schema()["$defs"]["TargetSpec"]["allOf"]
    by_type = {b["if"]["properties"]["type"]["const"]: b["then"] for b in branches}
    assert "stream" in by_type["redis_stream"]["properties"]
    assert by_type["redis_stream"]["required"] == ["stream"]


def test_importing_config_loads_no_io_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, eventbus.config; "
        "print(sorted(m for m in ('redis', 'asyncio', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_shipped_rules_need_no_outside_service() -> None:
    # A fresh checkout runs `make run` with nothing else running: enabled rules deliver only to
    # Redis, buses or files; the others are DISABLED and their file says how to enable them.
    ruleset = load_rules(ROOT / "rules", settings=SETTINGS)
    local = {"log", "redis_stream", "redis_list", "bus"}
    for bus_name, rule, target in ruleset.deliveries():
        if target.type in local:
            continue
        assert not rule.enabled, f"{bus_name}/{rule.name} needs a {target.type} service"
        assert "then set `state: ENABLED`" in Path(rule.file).read_text(), rule.file


def test_loading_pauses_the_collector_and_restores_it_as_it_was(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "rules: []\n")
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        load_rules(path, settings=SETTINGS)
        assert not gc.isenabled()  # a nested pause does not turn it back on
    assert gc.isenabled()


def test_a_frozen_load_keeps_what_it_made_out_of_later_collections(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "rules: []\n")
    try:
        with collector_paused(freeze=True):
            ruleset = load_rules(path, settings=SETTINGS)
        assert gc.isenabled() and gc.get_freeze_count() > 0
        assert ruleset.buses["default"].rules == {}
    finally:
        gc.unfreeze()
