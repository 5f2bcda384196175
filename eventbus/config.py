"""Loading rule files: YAML → checked models → compiled rules, with every error at once.

``load_rules("rules/")`` reads each ``*.yaml`` / ``*.yml`` file under the directory (or the one
file given), checks it against :mod:`eventbus.rules`, compiles each rule's pattern, schedule and
target input, validates each target's own settings with its type's ``config_model``, and checks
what spans files (rule names unique per bus, one ``bus_config`` per bus). Nothing stops at the
first problem: a :class:`~eventbus.errors.RuleFileError` carries them all, each with its file,
line (where known), rule and field path.

YAML is read by :mod:`eventbus.yaml_load` (LibYAML, one pass, limits checked) with YAML 1.2
core-schema semantics, so only JSON's scalar types exist: ``on``, ``yes`` and ``2024-01-01`` stay
strings. Documents are plain dicts and lists, with the line of each key and item on the side.

Each file is read and checked by :mod:`eventbus.rule_reader`; what is loaded is the model of
:mod:`eventbus.ruleset`, whose names this module also exports.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventbus.archives.declared import archives_of, duplicate_archives
from eventbus.errors import RuleFileError, RuleProblem
from eventbus.rule_reader import FileReader, read_rule_file, target_index
from eventbus.rules import BusConfig, RuleFile
from eventbus.ruleset import BusRules, LoadedRule, LoadedTarget, RuleSet
from eventbus.settings import Settings
from eventbus.targets import TargetConfig, known_target_types, load_target_config

__all__ = [
    "BusRules",
    "LoadedRule",
    "LoadedTarget",
    "RuleSet",
    "collector_paused",
    "load_rules",
    "rule_file_schema",
]

RULE_FILE_SUFFIXES = (".yaml", ".yml")
# State machine definitions in YAML (``workflows/NAME.asl.yaml``): never rule files, even in a
# directory searched for rules.
_WORKFLOW_SUFFIXES = (".asl.yaml", ".asl.yml")


def rule_files(path: Path) -> list[Path]:
    """The rule files under ``path`` (itself, when a file), sorted; ``RuleFileError`` when it
    does not exist."""
    if path.is_file():
        return [path]
    if path.is_dir():
        found = (
            p
            for p in path.rglob("*")
            if p.suffix in RULE_FILE_SUFFIXES
            and not p.name.endswith(_WORKFLOW_SUFFIXES)
            and p.is_file()
        )
        return sorted(found)
    raise RuleFileError([RuleProblem(str(path), "no such file or directory")])


def load_rules(path: str | Path, *, settings: Settings | None = None) -> RuleSet:
    """Every rule under ``path`` (a file or a directory), compiled; ``RuleFileError`` with all
    the problems found otherwise."""
    with collector_paused():
        readers = [read_rule_file(p, settings=settings) for p in rule_files(Path(path))]
        index = target_index(readers)
        for reader in readers:
            reader.check(index)
    problems = [p for r in readers for p in r.problems]
    problems += _duplicate_names(readers) + _duplicate_bus_configs(readers)
    problems += _duplicate_connections(readers) + duplicate_archives(readers)
    warnings = sorted((w for r in readers for w in r.warnings), key=_position)
    if problems:
        problems.sort(key=_position)
        raise RuleFileError(problems, warnings)
    ruleset = _assemble(readers)
    ruleset.warnings = warnings
    return ruleset


def _position(problem: RuleProblem) -> tuple[str, int]:
    return problem.file, problem.line or 0


@contextmanager
def collector_paused(*, freeze: bool = False) -> Iterator[None]:
    """The cyclic garbage collector off while rule files are read: reading 10,000 rules makes
    millions of small objects, few of them garbage and none in cycles, and the collections they
    set off took a third of the time. What was left for it is collected when it is back on.

    With ``freeze``, what is alive at the end is moved out of the collector's sight for good
    (``gc.freeze``): for rules loaded once at a process's start, which it keeps to the end,
    instead of every later full collection walking them again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if freeze:
                gc.freeze()
            gc.enable()


def _duplicate_names(readers: list[FileReader]) -> list[RuleProblem]:
    seen: dict[tuple[str, str], str] = {}
    problems = []
    for reader in readers:
        if reader.header is None:
            continue  # its rules' bus is not known; the header's problems fail the load anyway
        for bus, name, line in reader.rule_names:
            first = seen.get((bus, name))
            if first is None:
                seen[(bus, name)] = f"{reader.file}:{line}"
                continue
            message = f"rule name {name!r} is already used on bus {bus!r} at {first}"
            problems.append(RuleProblem(reader.file, message, line, name, "name"))
    return problems


def _duplicate_bus_configs(readers: list[FileReader]) -> list[RuleProblem]:
    seen: dict[str, str] = {}
    problems = []
    for reader in readers:
        if reader.header is None or reader.header.bus_config is None:
            continue
        bus = reader.header.bus
        line = reader.document.line_of(("bus_config",))
        first = seen.get(bus)
        if first is None:
            seen[bus] = f"{reader.file}:{line}"
        else:
            message = f"bus {bus!r} already has its bus_config at {first}"
            problems.append(RuleProblem(reader.file, message, line, None, "bus_config"))
    return problems


def _duplicate_connections(readers: list[FileReader]) -> list[RuleProblem]:
    """Connection names are unique across files: a task's ARN names one of the account's."""
    seen: dict[str, str] = {}
    problems = []
    for reader in readers:
        if reader.header is None:
            continue
        for index, connection in enumerate(reader.header.connections):
            line = reader.document.line_of(("connections", index, "name"))
            first = seen.setdefault(connection.name, f"{reader.file}:{line}")
            if first != f"{reader.file}:{line}":
                message = f"connection {connection.name!r} is already declared at {first}"
                field = f"connections[{index}].name"
                problems.append(RuleProblem(reader.file, message, line, None, field))
    return problems


def _assemble(readers: list[FileReader]) -> RuleSet:
    ruleset = RuleSet()
    for reader in readers:
        assert reader.header is not None  # a reader without problems has its header
        for connection in reader.header.connections:
            ruleset.connections[connection.name] = connection
        bus = ruleset.buses.setdefault(reader.header.bus, BusRules(reader.header.bus))
        if reader.header.bus_config is not None:
            bus.config = reader.header.bus_config
    for reader in readers:
        for rule in reader.rules:
            bus = ruleset.buses.setdefault(rule.bus, BusRules(rule.bus))
            bus.rules[rule.name] = _with_bus_dead_letter(rule, bus.config)
    ruleset.archives = archives_of(readers, ruleset)
    return ruleset


def _with_bus_dead_letter(rule: LoadedRule, config: BusConfig) -> LoadedRule:
    if config.dead_letter is None:
        return rule
    default = config.dead_letter.stream
    targets = [
        t if t.dead_letter_stream else dataclasses.replace(t, dead_letter_stream=default)
        for t in rule.targets
    ]
    return dataclasses.replace(rule, targets=targets)


def rule_file_schema() -> dict[str, Any]:
    """The JSON Schema of a rule file, for editors to complete and check them.

    Each installed target type adds an ``if type == <name> then <its fields>`` branch to the
    target schema, so editors also complete ``url`` for ``http`` and ``stream`` for
    ``redis_stream``. Types that cannot be imported are left out of those branches.
    """
    # Imported here: a tenth of a second a router's start does not need.
    from pydantic.json_schema import models_json_schema

    configs = _importable_target_configs()
    keys = [(RuleFile, "validation"), *((m, "validation") for m in configs.values())]
    refs, top = models_json_schema(keys)  # type: ignore[arg-type]
    defs = top["$defs"]
    root = defs.pop("RuleFile")
    branches = []
    for type_name, config in configs.items():
        config_def = defs[refs[(config, "validation")]["$ref"].rsplit("/", 1)[1]]
        then = {"properties": config_def.get("properties", {})}
        if config_def.get("required"):
            then["required"] = config_def["required"]
        branches.append({"if": {"properties": {"type": {"const": type_name}}}, "then": then})
    defs["TargetSpec"]["properties"]["type"]["examples"] = list(configs)
    defs["TargetSpec"]["allOf"] = branches
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "eventbus rule file",
        **{k: v for k, v in root.items() if k != "title"},
        "$defs": defs,
    }


def _importable_target_configs() -> dict[str, type[TargetConfig]]:
    configs = {}
    for type_name in known_target_types():
        try:
            configs[type_name] = load_target_config(type_name)
        except KeyError:
            continue
    return configs
