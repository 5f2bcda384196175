"""Workflow files: the state machines of a ``workflows/`` directory, read and validated.

Each ``NAME.asl.json`` or ``NAME.asl.yaml`` (``.asl.yml``) file holds one state machine
definition; its file name gives the machine's name, and ``NAME.express.asl.json`` makes it an
EXPRESS machine (STANDARD otherwise). Every file is checked as CreateStateMachine checks a
definition (:func:`~eventbus.workflows.validate_definition`), and every problem of every file
is reported at once as a :class:`~eventbus.errors.RuleProblem` with its file, line and field
(the diagnostic's location, such as ``/States/Fetch/Retry[0]``), as rule files report theirs.

:func:`read_workflow` is pure (the file's name and text in, a definition or problems out);
:func:`load_workflows` reads the files of a directory with it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import orjson

from eventbus.errors import InvalidDefinition, RuleProblem, WorkflowFileError
from eventbus.workflows.definition import validate_definition
from eventbus.workflows.source_lines import Loc, json_lines, line_in, resolve_location
from eventbus.workflows.tasks import TARGET_PREFIX
from eventbus.yaml_load import Intrinsic, YamlError, load_yaml

__all__ = [
    "EXPRESS_MARK",
    "MAX_DEFINITION_CHARS",
    "WORKFLOW_SUFFIXES",
    "WorkflowCatalog",
    "WorkflowDefinition",
    "load_workflows",
    "name_problem",
    "read_workflow",
    "workflow_files",
    "workflows_beside",
]

WORKFLOW_SUFFIXES = (".asl.json", ".asl.yaml", ".asl.yml")
# ``NAME.express.asl.json``: the type is the machine's, not the definition's (ASL has no field
# for it; CreateStateMachine takes it beside the definition), so the file name carries it.
EXPRESS_MARK = ".express"
# CreateStateMachine's limit on a definition, in characters.
MAX_DEFINITION_CHARS = 1_048_576
MAX_NAME_CHARS = 80
# What CreateStateMachine refuses in a name: whitespace, brackets, wildcards, these specials, and
# control characters (U+0000-001F, U+007F-009F).
_NAME_REFUSED = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
# Files that look like definitions but do not end as one, warned about rather than skipped quietly.
_NEAR_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class WorkflowDefinition:
    """One state machine of a workflow file.

    ``text`` is the definition as JSON text (the file's own text for ``.asl.json``, the YAML
    written out as compact JSON otherwise); ``version`` is a SHA-256 of the type and that text,
    so an execution can name, and keep, the definition it started with while the file changes.
    """

    name: str
    type: str
    text: str = field(repr=False)
    definition: dict[str, Any] = field(repr=False)
    version: str
    source: str


@dataclass(frozen=True, slots=True)
class WorkflowCatalog:
    """The state machines of the workflow files, by name, and what was found but not refused."""

    machines: Mapping[str, WorkflowDefinition] = field(default_factory=dict)
    warnings: tuple[RuleProblem, ...] = ()

    def __len__(self) -> int:
        return len(self.machines)

    def __iter__(self) -> Iterator[WorkflowDefinition]:
        return iter(self.machines.values())

    def get(self, name: str) -> WorkflowDefinition | None:
        return self.machines.get(name)


def name_problem(name: str) -> str | None:
    """Why CreateStateMachine would refuse ``name``, or None."""
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        return f"a state machine name has 1 to {MAX_NAME_CHARS} characters (found {len(name)})"
    bad = _NAME_REFUSED.search(name)
    if bad is not None:
        return (
            f"a state machine name may not contain {bad.group()!r}: no whitespace, brackets, "
            "wildcards, control characters or any of \" # % \\ ^ | ~ ` $ & , ; : /"
        )
    return None


def _split_name(file: str) -> tuple[str, str] | None:
    """(name, type) from a workflow file's name; None when it is not one."""
    base = PurePath(file).name
    suffix = next((s for s in WORKFLOW_SUFFIXES if base.endswith(s)), None)
    if suffix is None:
        return None
    stem = base.removesuffix(suffix)
    if stem.endswith(EXPRESS_MARK):
        return stem.removesuffix(EXPRESS_MARK), "EXPRESS"
    return stem, "STANDARD"


def read_workflow(
    file: str, text: str, target_types: Collection[str] | None = None
) -> tuple[WorkflowDefinition | None, list[RuleProblem]]:
    """The state machine of the workflow file ``file`` holding ``text``, or the problems found
    (all of them: a bad name does not stop the definition from being checked). With
    ``target_types``, a Task naming ``arn:eventbus:states:::target:<type>`` of another type is
    a problem too."""
    problems: list[RuleProblem] = []
    split = _split_name(file)
    if split is None:
        suffixes = " or ".join(f"NAME{s}" for s in WORKFLOW_SUFFIXES)
        return None, [RuleProblem(file, f"a workflow file is named {suffixes}")]
    name, machine_type = split
    refused = name_problem(name)
    if refused is not None:
        problems.append(RuleProblem(file, f"{refused} (the name is the file's, {name!r})"))
    if len(text) > MAX_DEFINITION_CHARS:
        message = f"the definition has {len(text):,} characters; at most {MAX_DEFINITION_CHARS:,}"
        return None, [*problems, RuleProblem(file, message)]
    read = _read_json if file.endswith(".asl.json") else _read_yaml
    parsed = read(file, text)
    if isinstance(parsed, list):
        return None, problems + parsed
    definition, json_text, line_of = parsed
    try:
        validate_definition(json_text, machine_type)
    except InvalidDefinition as e:
        for diagnostic in e.diagnostics:
            problems.append(_diagnostic_problem(file, definition, diagnostic, line_of))
    else:
        problems += _unknown_targets(file, definition, target_types, line_of)
    if problems:
        return None, problems
    version = hashlib.sha256(f"{machine_type}\n{json_text}".encode()).hexdigest()
    return WorkflowDefinition(name, machine_type, json_text, definition, version, file), []


def _unknown_targets(file: str, definition: dict[str, Any], target_types: Collection[str] | None,
                     line_of: _LineOf) -> list[RuleProblem]:
    """A Task calling a target type that is not installed would fail every execution that
    reaches it: say so when the file loads, as a rule naming one is refused."""
    if target_types is None:
        return []
    problems = []
    for loc, resource in _task_resources(definition["States"], ("States",)):
        kind = resource[len(TARGET_PREFIX):].removesuffix(".waitForTaskToken")
        if resource.startswith(TARGET_PREFIX) and kind not in target_types:
            message = (f"unknown target type {kind!r}; known types: "
                       f"{', '.join(sorted(target_types))}")
            problems.append(RuleProblem(file, message, line_of(loc), None, _field(loc)))
    return problems


def _task_resources(states: Mapping[str, Any], loc: Loc) -> Iterator[tuple[Loc, str]]:
    """(location, resource) of every Task state, those of Map and Parallel states included."""
    for name, state in states.items():
        if state.get("Type") == "Task" and isinstance(state.get("Resource"), str):
            yield (*loc, name, "Resource"), state["Resource"]
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from _task_resources(state[key]["States"], (*loc, name, key, "States"))
        for i, branch in enumerate(state.get("Branches") or ()):
            yield from _task_resources(branch["States"], (*loc, name, "Branches", i, "States"))


# (the parsed definition, its JSON text, the line of a path in the file) or the problems
_LineOf = Callable[[Loc], int | None]
_Parsed = tuple[dict[str, Any], str, _LineOf] | list[RuleProblem]
_NOT_AN_OBJECT = "a definition is a JSON object with `StartAt` and `States`"


def _read_json(file: str, text: str) -> _Parsed:
    if not text.strip():
        return [RuleProblem(file, f"the file is empty; {_NOT_AN_OBJECT}")]

    def no_constants(name: str) -> Any:
        raise json.JSONDecodeError(f"{name} is not a JSON value", text, text.index(name))

    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        # The standard library's parser reads what orjson refuses and JSON allows (integers
        # past 64 bits), and says where the text stops being JSON when it is not.
        try:
            data = json.loads(text, parse_constant=no_constants)
        except json.JSONDecodeError as e:
            message = f"not valid JSON: {e.msg} (column {e.colno})"
            return [RuleProblem(file, message, e.lineno)]
        except RecursionError:
            return [RuleProblem(file, "not valid JSON: nesting too deep")]
    if not isinstance(data, dict):
        return [RuleProblem(file, _NOT_AN_OBJECT, 1)]
    lines: list[dict[Loc, int]] = []

    def line_of(loc: Loc) -> int | None:
        # The lines are found only for a definition with problems (most have none), once.
        if not lines:
            lines.append(json_lines(text))
        return line_in(lines[0], loc)

    return data, text, line_of


def _read_yaml(file: str, text: str) -> _Parsed:
    try:
        document = load_yaml(text)
    except YamlError as e:
        kind = "YAML refused" if e.kind == "limit" else "YAML syntax error"
        return [RuleProblem(file, f"{kind}: {e.message}", e.line)]
    except ValueError as e:  # a scalar Python cannot hold
        return [RuleProblem(file, f"YAML value refused: {e}")]
    if document is None or not isinstance(document.data, dict):
        line = None if document is None else document.line_of(())
        return [RuleProblem(file, _NOT_AN_OBJECT, line)]
    problems = [
        RuleProblem(file, message, document.line_of(at), None, _field(loc))
        for at, loc, message in _not_json(document.data, ())
    ]
    if problems:
        return problems
    try:
        json_text = orjson.dumps(document.data).decode()
    except orjson.JSONEncodeError:  # an integer past 64 bits: JSON allows it
        json_text = json.dumps(document.data, ensure_ascii=False, separators=(",", ":"))
    return document.data, json_text, document.line_of


def _not_json(node: Any, loc: Loc) -> Iterator[tuple[Loc, Loc, str]]:
    """What a YAML document holds that JSON cannot: tags such as ``!Ref``, keys that are not
    strings, and infinities and NaN. Each as (the path of its line, its field path, why): a
    key's line is its own, its field path its mapping's."""
    if isinstance(node, Intrinsic):
        message = f"`{node.tag}` cannot be resolved in a workflow file; write the value itself"
        yield loc, loc, message
    elif isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                yield (*loc, key), loc, f"the key {key!r} is not a string; quote it"
            else:
                yield from _not_json(value, (*loc, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _not_json(value, (*loc, index))
    elif isinstance(node, float) and not math.isfinite(node):
        yield loc, loc, f"{node} is not a JSON number"


def _field(loc: Loc) -> str:
    """A path as ValidateStateMachineDefinition writes locations: ``/States/A/Catch[0]``."""
    text = ""
    for key in loc:
        text += f"[{key}]" if isinstance(key, int) else f"/{key}"
    return text or "/"


def _diagnostic_problem(
    file: str, definition: dict[str, Any], diagnostic: dict[str, str], line_of: _LineOf
) -> RuleProblem:
    location = diagnostic.get("location")
    line = line_of(resolve_location(definition, location)) if location else None
    return RuleProblem(file, diagnostic["message"], line, None, location)


def workflow_files(path: Path) -> list[Path]:
    """The files under ``path`` (a directory, or one file) that may be workflow files."""
    if path.is_file():
        return [path]
    found = (p for p in path.rglob("*") if p.name.endswith(_NEAR_SUFFIXES) and p.is_file())
    return sorted(found)


def workflows_beside(rules: str | Path) -> Path | None:
    """The default workflow directory: ``workflows/`` beside the rules (``./workflows`` for
    ``rules/`` or ``rules.yaml``), when there is one."""
    found = Path(rules).parent / "workflows"
    return found if found.is_dir() else None


def load_workflows(path: str | Path) -> WorkflowCatalog:
    """Every state machine of the workflow files under ``path``; ``WorkflowFileError`` with every
    problem of every file otherwise (a file not named as a workflow file is a warning)."""
    from eventbus.targets import known_target_types

    root = Path(path)
    if not root.exists():
        raise WorkflowFileError([RuleProblem(str(root), "no such file or directory")])
    machines: dict[str, WorkflowDefinition] = {}
    problems: list[RuleProblem] = []
    warnings: list[RuleProblem] = []
    for file in workflow_files(root):
        if _split_name(file.name) is None and root.is_dir():
            message = "ignored: a workflow file is named NAME.asl.json or NAME.asl.yaml"
            warnings.append(RuleProblem(str(file), message, warning=True))
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            problems.append(RuleProblem(str(file), f"cannot read the file: {e}"))
            continue
        machine, found = read_workflow(str(file), text, known_target_types())
        problems += found
        if machine is None:
            continue
        first = machines.get(machine.name)
        if first is not None:
            message = f"state machine {machine.name!r} is already defined by {first.source}"
            problems.append(RuleProblem(str(file), message))
            continue
        machines[machine.name] = machine
    if problems:
        raise WorkflowFileError(problems, warnings)
    return WorkflowCatalog(machines, tuple(warnings))
