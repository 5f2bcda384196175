"""Workflow files: names, types, validation, every problem at its file and line, reloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventbus.config import load_rules
from eventbus.errors import RuleFileError, RuleProblem, WorkflowFileError
from eventbus.rule_watch import RuleWatch, load_rules_and_workflows
from eventbus.workflows import TaskFailed, run_local, validate_definition
from eventbus.workflows.catalog import (
    MAX_DEFINITION_CHARS,
    load_workflows,
    name_problem,
    read_workflow,
    workflows_beside,
)
from eventbus.workflows.source_lines import json_lines, resolve_location

ROOT = Path(__file__).parent.parent.parent
PASS = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}'
CALLBACK = """StartAt: Wait
States:
  Wait:
    Type: Task
    Resource: arn:aws:states:::lambda:invoke.waitForTaskToken
    End: true
"""
BROKEN_JSON = """{
  "StartAt": "A",
  "States": {
    "A": {
      "Type": "Pass",
      "Next": "Nowhere"
    },
    "a/b": {"Type": "Wait", "Seconds": 1, "End": true}
  }
}"""
SUCCEED = '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}'
RULES = "rules:\n  - name: r\n    event_pattern: {source: [a]}\n    targets: [{id: t, type: log}]\n"


def problems_of(path: Path) -> list[str]:
    with pytest.raises(WorkflowFileError) as refused:
        load_workflows(path)
    return [str(p) for p in refused.value.problems]


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")
    return directory / name


# --- names and types ---------------------------------------------------------------------------


def test_every_json_and_yaml_file_is_a_machine_named_by_its_file(tmp_path: Path) -> None:
    write(tmp_path, "a.asl.json", PASS)
    write(tmp_path, "b.asl.yaml", CALLBACK)
    write(tmp_path / "team", "c.asl.yml", CALLBACK)
    catalog = load_workflows(tmp_path)
    assert sorted(m.name for m in catalog) == ["a", "b", "c"]
    assert {m.type for m in catalog} == {"STANDARD"}
    machine = catalog.get("c")
    assert machine is not None and machine.source == str(tmp_path / "team/c.asl.yml")


def test_an_express_file_is_an_express_machine_and_checked_as_one(tmp_path: Path) -> None:
    write(tmp_path, "quick.express.asl.json", PASS)
    assert load_workflows(tmp_path).get("quick").type == "EXPRESS"  # type: ignore[union-attr]
    # STANDARD accepts a callback task; EXPRESS refuses it, at its line.
    write(tmp_path, "wait.express.asl.yaml", CALLBACK)
    [problem] = problems_of(tmp_path)
    assert problem.startswith(f"{tmp_path / 'wait.express.asl.yaml'}:5: /States/Wait/Resource: ")
    assert "Express state machine does not support" in problem


@pytest.mark.parametrize("name", ["a", "x" * 80, "hourly-partitions", "v1.2_final", "Ünïcode"])
def test_names_aws_accepts_are_accepted(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    "name", ["", "x" * 81, "two words", "tab\there", "a:b", "a*", "what?", "[x]", "{x}", "<x>",
             "a/b", 'q"', "#", "%", "\\", "^", "|", "~", "`", "$", "&", ",", ";", "bell\x07",
             "del\x7f", "c1\x85"],
)  # fmt: skip
def test_names_aws_refuses_are_refused(name: str) -> None:
    assert name_problem(name) is not None


def test_a_bad_file_name_is_an_error_and_its_definition_is_still_checked(tmp_path: Path) -> None:
    write(tmp_path, "my machine.asl.json", BROKEN_JSON)
    write(tmp_path, f"{'n' * 81}.asl.json", PASS)
    found = problems_of(tmp_path)
    assert any("'my machine'" in p and "may not contain ' '" in p for p in found)
    assert any("1 to 80 characters (found 81)" in p for p in found)
    assert any("Missing 'Next' target: Nowhere" in p for p in found)


def test_two_files_of_one_name_are_refused_naming_the_first(tmp_path: Path) -> None:
    write(tmp_path, "a.asl.json", PASS)
    write(tmp_path, "a.express.asl.json", PASS)
    assert problems_of(tmp_path) == [
        f"{tmp_path / 'a.express.asl.json'}: state machine 'a' is already defined by "
        f"{tmp_path / 'a.asl.json'}"
    ]


def test_a_definition_file_not_named_as_one_is_a_warning_not_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.asl.json", PASS)
    write(tmp_path, "notes.json", "{}")
    write(tmp_path, "README.md", "not read")
    catalog = load_workflows(tmp_path)
    assert [m.name for m in catalog] == ["a"]
    assert [str(w) for w in catalog.warnings] == [
        f"{tmp_path / 'notes.json'}: warning: ignored: a workflow file is named NAME.asl.json "
        "or NAME.asl.yaml"
    ]


# --- problems, each at its file, line and field ------------------------------------------------


def test_every_problem_of_every_file_is_reported_at_once_with_file_line_and_field(
    tmp_path: Path,
) -> None:
    write(tmp_path, "a.asl.json", BROKEN_JSON)
    write(tmp_path, "b.asl.yaml", "StartAt: A\nStates:\n  A:\n    Type: Pass\n    End: true\n"
                                  "    Bogus: 1\n")  # fmt: skip
    write(tmp_path, "c.asl.json", PASS)
    a, b = tmp_path / "a.asl.json", tmp_path / "b.asl.yaml"
    assert problems_of(tmp_path) == [
        f"{a}:6: /States/A/Next: Missing 'Next' target: Nowhere",
        f'{a}:8: /States/a/b: State "a/b" is not reachable.',
        f"{b}:3: /States/A: Field 'Bogus' is not supported",
    ]


def test_a_schema_problem_is_at_the_line_of_its_field() -> None:
    text = BROKEN_JSON.replace('"Seconds": 1', '"Seconds": -1')
    machine, [problem] = read_workflow("w/a.asl.json", text)
    assert machine is None
    assert str(problem) == "w/a.asl.json:8: /States/a/b/Seconds: Minimum value is 0"


def test_a_problem_without_a_location_names_the_file_only() -> None:
    loop = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}'
    _, [problem] = read_workflow("loop.asl.json", loop)
    assert str(problem) == "loop.asl.json: Workflow has no terminal state"


def test_text_that_is_not_json_is_reported_at_its_line_and_column() -> None:
    _, [problem] = read_workflow("x.asl.json", '{\n  "StartAt": "A",\n  "States": {,}\n}')
    assert problem.line == 3 and "not valid JSON" in problem.message
    assert "column 14" in problem.message
    _, [problem] = read_workflow("x.asl.json", '{"a": NaN}')
    assert problem.line == 1 and "NaN is not a JSON value" in problem.message


@pytest.mark.parametrize("text", ["", "  \n", "[]", '"text"', "42"])
def test_an_empty_file_or_one_that_is_not_an_object_is_refused(text: str) -> None:
    for name in ("x.asl.json", "x.asl.yaml"):
        _, [problem] = read_workflow(name, text)
        assert "a definition is a JSON object" in problem.message


def test_a_definition_past_the_size_limit_is_refused() -> None:
    text = PASS.replace('"Pass"', '"Pass", "Comment": "' + "x" * MAX_DEFINITION_CHARS + '"')
    _, [problem] = read_workflow("big.asl.json", text)
    assert "at most 1,048,576" in problem.message


def test_yaml_problems_are_at_their_lines() -> None:
    text = """StartAt: A
States:
  A:
    Type: Pass
    Result: !Ref Something
    Parameters:
      200: ok
      ratio: .nan
    End: true
"""
    _, found = read_workflow("w/y.asl.yaml", text)
    assert [str(p) for p in found] == [
        "w/y.asl.yaml:5: /States/A/Result: `!Ref` cannot be resolved in a workflow file; "
        "write the value itself",
        "w/y.asl.yaml:7: /States/A/Parameters: the key 200 is not a string; quote it",
        "w/y.asl.yaml:8: /States/A/Parameters/ratio: nan is not a JSON number",
    ]


def test_yaml_syntax_errors_and_limits_are_refused_at_their_line() -> None:
    _, [problem] = read_workflow("y.asl.yaml", "StartAt: A\nStates: [\n")
    assert problem.message.startswith("YAML syntax error") and problem.line is not None
    deep = "StartAt: A\nStates:\n  A: " + "[" * 70 + "]" * 70 + "\n"
    _, [problem] = read_workflow("y.asl.yaml", deep)
    assert problem.message == "YAML refused: nesting is deeper than 64 levels"
    assert problem.line == 3


# --- what a loaded machine holds ---------------------------------------------------------------


def test_a_yaml_machine_is_held_as_json_text_the_validator_and_interpreter_take() -> None:
    machine, found = read_workflow("w/cb.asl.yaml", CALLBACK)
    assert machine is not None and not found
    validate_definition(machine.text)
    assert orjson.loads(machine.text) == machine.definition
    assert machine.definition["States"]["Wait"]["Type"] == "Task"


def test_the_version_changes_with_the_definition_and_the_type_and_only_with_them() -> None:
    def version(file: str, text: str) -> str:
        machine, _ = read_workflow(file, text)
        assert machine is not None
        return machine.version

    first = version("a.asl.json", PASS)
    assert version("b/a.asl.json", PASS) == first  # where the file is does not matter
    assert version("a.asl.json", SUCCEED) != first
    assert version("a.express.asl.json", PASS) != first
    yaml = "StartAt: A\nStates: {A: {Type: Pass, End: true}}  # comment\n"
    assert version("a.asl.yaml", yaml) == version("a.asl.yaml", yaml.replace("# comment", ""))


def test_the_shipped_example_is_valid() -> None:
    catalog = load_workflows(ROOT / "workflows")
    machine = catalog.get("hourly-partitions")
    assert machine is not None and machine.type == "STANDARD"
    states = machine.definition["States"]
    assert states["ProcessPartitions"]["Type"] == "Map"
    task = states["ProcessPartitions"]["ItemProcessor"]["States"]["ProcessPartition"]
    assert task["Resource"] == "arn:aws:states:::http:invoke" and task["Retry"]
    assert states["ProcessPartitions"]["Catch"][0]["Next"] == "NotifyFailure"


def test_the_shipped_example_succeeds_when_its_http_tasks_answer() -> None:
    machine = load_workflows(ROOT / "workflows").get("hourly-partitions")
    assert machine is not None

    def process(call: dict[str, Any]) -> dict[str, Any]:
        partition = call["RequestBody"]["partition"]
        return {"StatusCode": 200, "ResponseBody": {"partition": partition, "rows": 7}}

    tasks = {"arn:aws:states:::http:invoke": process}
    result = run_local(machine.text, '{"time": "2026-05-01T10:00:00Z"}', tasks=tasks)
    assert result["status"] == "SUCCEEDED"
    output = orjson.loads(result["output"])
    assert [r["partition"] for r in output["results"]] == output["partitions"]


def test_the_shipped_example_notifies_and_fails_when_a_partition_keeps_failing() -> None:
    machine = load_workflows(ROOT / "workflows").get("hourly-partitions")
    assert machine is not None
    published: list[Any] = []

    def process(call: dict[str, Any]) -> dict[str, Any]:
        raise TaskFailed("States.Http.StatusCode.400", "bad request")

    def publish(call: dict[str, Any]) -> dict[str, Any]:
        published.append(call)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e"}]}

    tasks = {"arn:aws:states:::http:invoke": process, "arn:aws:states:::events:putEvents": publish}
    result = run_local(machine.text, '{"time": "2026-05-01T10:00:00Z"}', tasks=tasks)
    assert (result["status"], result["error"]) == ("FAILED", "PartitionPipelineFailed")
    [entry] = published[0]["Entries"]
    assert entry["DetailType"] == "Partition Pipeline Failed"
    assert entry["Detail"]["error"] == "States.Http.StatusCode.400"


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope") == [f"{tmp_path / 'nope'}: no such file or directory"]


# --- lines in JSON text ------------------------------------------------------------------------

_KEYS = st.text(min_size=1, max_size=6)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=20,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        items: Any = value.items()
    else:
        items = enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found += _paths(child, (*path, key))
    return found


@given(st.dictionaries(_KEYS, _JSON, max_size=5))
def test_json_lines_finds_the_line_of_every_member_and_item(data: dict[str, Any]) -> None:
    text = orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    lines = json_lines(text)
    rows = text.split("\n")
    for path in _paths(data):
        line = lines[path]
        if path and isinstance(path[-1], str):  # a member: its line starts with its key
            assert rows[line - 1].lstrip().startswith(orjson.dumps(path[-1]).decode() + ":")


def test_a_location_is_resolved_against_state_names_as_written() -> None:
    definition = {"States": {"a/b": {"Choices": [{"Next": "x"}]}, "a": {}}}
    assert resolve_location(definition, "/States/a/b/Choices[0]/Next") == (
        "States", "a/b", "Choices", 0, "Next")  # fmt: skip
    assert resolve_location(definition, "/States/a") == ("States", "a")
    assert resolve_location(definition, "/States/gone/Next") == ("States",)
    assert resolve_location(definition, "/") == ()


# --- loading with the rules, and reloading -----------------------------------------------------


def test_rule_and_workflow_problems_are_refused_together(tmp_path: Path) -> None:
    write(tmp_path / "rules", "r.yaml", "rules: [{name: broken}]")
    write(tmp_path / "workflows", "w.asl.json", BROKEN_JSON)
    with pytest.raises(RuleFileError) as refused:
        load_rules_and_workflows(tmp_path / "rules", tmp_path / "workflows")
    files = {Path(p.file).name for p in refused.value.problems}
    assert files == {"r.yaml", "w.asl.json"}
    assert not isinstance(refused.value, WorkflowFileError)


def test_the_default_workflow_directory_is_the_one_beside_the_rules(tmp_path: Path) -> None:
    write(tmp_path / "rules", "r.yaml", RULES)
    assert workflows_beside(tmp_path / "rules") is None
    write(tmp_path / "workflows", "w.asl.json", PASS)
    assert workflows_beside(tmp_path / "rules") == tmp_path / "workflows"
    assert workflows_beside(tmp_path / "rules.yaml") == tmp_path / "workflows"


def test_a_yaml_definition_is_never_read_as_a_rule_file(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", RULES)
    write(tmp_path / "workflows", "w.asl.yaml", CALLBACK)
    assert [r for bus in load_rules(tmp_path).buses.values() for r in bus.rules] == ["r"]


def test_changed_workflows_are_swapped_in_and_a_refused_set_keeps_the_old(tmp_path: Path) -> None:
    write(tmp_path / "rules", "r.yaml", RULES)
    write(tmp_path / "workflows", "a.asl.json", PASS)
    watch = RuleWatch(tmp_path / "rules", workflows=tmp_path / "workflows")
    watch.load()
    first = watch.workflows.get("a")
    assert first is not None and not watch.due()

    write(tmp_path / "workflows", "b.asl.yaml", CALLBACK)
    assert watch.due()
    watch.load()
    assert sorted(m.name for m in watch.workflows) == ["a", "b"]

    write(tmp_path / "workflows", "a.asl.json", BROKEN_JSON)
    assert watch.due()
    with pytest.raises(WorkflowFileError):
        watch.load()
    assert watch.workflows.get("a") == first  # the running set stays, the old "a" with it
    assert sorted(m.name for m in watch.workflows) == ["a", "b"]

    write(tmp_path / "workflows", "a.asl.json", SUCCEED)
    watch.load()
    changed = watch.workflows.get("a")
    assert changed is not None and changed.version != first.version


async def test_a_refused_reload_is_logged_with_every_problem(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "rules", "r.yaml", RULES)
    write(tmp_path / "workflows", "a.asl.json", PASS)
    watch = RuleWatch(tmp_path / "rules", workflows=tmp_path / "workflows")
    watch.load()
    write(tmp_path / "workflows", "a.asl.json", BROKEN_JSON)
    assert await watch.reload() is None
    logged = [r.getMessage() for r in caplog.records if r.name == "eventbus.rules"]
    assert any(f"{tmp_path / 'workflows/a.asl.json'}:6: /States/A/Next" in m for m in logged)
    assert all(m.startswith("rules and workflows refused, the running rules and workflows stay")
               for m in logged)  # fmt: skip
    assert watch.workflows.get("a") is not None


def test_rule_problem_is_the_record_of_a_workflow_problem() -> None:
    _, [problem] = read_workflow("loop.asl.json", '{"StartAt": "A", "States": {}}')
    assert isinstance(problem, RuleProblem) and problem.rule is None


def test_a_task_calling_a_target_type_that_is_not_installed_is_a_problem(
    tmp_path: Path,
) -> None:
    def call(kind: str) -> dict[str, Any]:
        return {"Type": "Task", "Resource": f"arn:eventbus:states:::target:{kind}",
                "Parameters": {"stream": "s"}, "End": True}

    definition = {"StartAt": "Fan", "States": {
        "Fan": {"Type": "Parallel", "Next": "Each", "Branches": [
            {"StartAt": "Ok", "States": {"Ok": call("redis_stream.waitForTaskToken")}},
            {"StartAt": "Typo", "States": {"Typo": call("redis_stram")}}]},
        "Each": {"Type": "Map", "End": True, "ItemProcessor": {
            "StartAt": "Gone", "States": {"Gone": call("kafka.waitForTaskToken")}}},
    }}
    text = orjson.dumps(definition, option=orjson.OPT_INDENT_2).decode()
    file = write(tmp_path, "fan.asl.json", text)
    lines = text.splitlines()
    typo, gone = (next(n for n, line in enumerate(lines, 1) if kind in line)
                  for kind in ("redis_stram", "kafka"))  # fmt: skip
    found = problems_of(tmp_path)
    assert [p.split(": unknown target type ")[0] for p in found] == [
        f"{file}:{typo}: /States/Fan/Branches[1]/States/Typo/Resource",
        f"{file}:{gone}: /States/Each/ItemProcessor/States/Gone/Resource",
    ]
    assert "'redis_stram'; known types: " in found[0] and "redis_stream" in found[0]
    assert "'kafka'" in found[1]
