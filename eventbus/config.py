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
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from eventbus.errors import (
    InvalidPatternError,
    InvalidScheduleError,
    InvalidTransformError,
    RuleFileError,
    RuleProblem,
)
from eventbus.patterns import CompiledPattern, Matcher, compile_pattern
from eventbus.rules import BusConfig, RetryPolicy, Rule, RuleFile, TargetSpec
from eventbus.schedule import Schedule, parse_schedule
from eventbus.settings import DEFAULT_BUS, Settings, get_settings, rule_arn
from eventbus.targets import TargetConfig, known_target_types, load_target_config
from eventbus.transform import NO_INPUT, TargetInput, compile_target_input
from eventbus.yaml_load import Document, YamlError, load_yaml

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
Loc = tuple[str | int, ...]
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class LoadedTarget:
    """A target ready to deliver: its settings validated and its input shaping compiled."""

    id: str
    type: str
    spec: TargetSpec
    config: TargetConfig
    input: TargetInput
    retry: RetryPolicy
    # The target's own dead-letter stream, else its bus's ``bus_config.dead_letter``; None means
    # the runtime's default dead-letter stream of the bus.
    dead_letter_stream: str | None


@dataclass(frozen=True, slots=True)
class LoadedRule:
    """A rule with everything compiled; ``file`` and ``line`` say where it was written."""

    bus: str
    name: str
    arn: str
    model: Rule
    pattern: CompiledPattern | None
    schedule: Schedule | None
    targets: list[LoadedTarget]
    file: str = ""
    line: int | None = None

    @property
    def enabled(self) -> bool:
        return self.model.state == "ENABLED"


@dataclass(slots=True)
class BusRules:
    """The rules and settings of one bus."""

    name: str
    config: BusConfig = field(default_factory=BusConfig)
    rules: dict[str, LoadedRule] = field(default_factory=dict)


@dataclass(slots=True)
class RuleSet:
    """Every bus named by the rule files, with its rules."""

    buses: dict[str, BusRules] = field(default_factory=dict)

    def rule(self, bus: str, name: str) -> LoadedRule:
        """The rule ``name`` of ``bus``; ``KeyError`` when there is none."""
        return self.buses[bus].rules[name]

    def matcher(self, bus: str) -> Matcher:
        """A matcher over the bus's enabled rules that have an event pattern (empty for a bus
        no rule file names)."""
        matcher = Matcher()
        rules = self.buses[bus].rules.values() if bus in self.buses else ()
        for rule in rules:
            if rule.enabled and rule.pattern is not None:
                matcher.add(rule.name, rule.pattern)
        return matcher

    def deliveries(self) -> Iterator[tuple[str, LoadedRule, LoadedTarget]]:
        """Every (bus, rule, target) triple, disabled rules included (their queues may still
        hold deliveries to drain)."""
        for bus in self.buses.values():
            for rule in bus.rules.values():
                for target in rule.targets:
                    yield bus.name, rule, target

    def scheduled_rules(self) -> list[LoadedRule]:
        """The enabled rules with a schedule, on every bus."""
        return [
            rule
            for bus in self.buses.values()
            for rule in bus.rules.values()
            if rule.enabled and rule.schedule is not None
        ]


def _field_path(loc: Sequence[str | int]) -> str:
    """``("targets", 0, "url")`` → ``targets[0].url``."""
    text = ""
    for key in loc:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def _pydantic_message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    found = error.get("input")
    if kind != "value_error" and not isinstance(found, dict | list):
        message += f" (found {found!r})"
    return message


def _dotted_loc(path: str) -> Loc:
    """A dotted field path from a compiler error as a location to look a line up with."""
    return tuple(part for part in path.replace("[", ".").replace("]", "").split(".") if part)


class _FileReader:
    """Checks one rule file, collecting its problems instead of stopping at the first."""

    def __init__(self, file: str, settings: Settings) -> None:
        self.file = file
        self.settings = settings
        self.problems: list[RuleProblem] = []
        self.document = Document(None, {})
        self.header: RuleFile | None = None
        self.rules: list[LoadedRule] = []
        self.rule_names: list[tuple[str, int | None]] = []  # every name seen, valid rule or not

    def report(self, loc: Loc, message: str, *, rule: str | None = None, field: str = "") -> None:
        line = self.document.line_of(loc)
        self.problems.append(RuleProblem(self.file, message, line, rule, field or None))

    def read(self, text: str) -> None:
        try:
            document = load_yaml(text)
        except YamlError as e:
            kind = "YAML refused" if e.kind == "limit" else "YAML syntax error"
            self.problems.append(RuleProblem(self.file, f"{kind}: {e.message}", e.line))
            return
        except ValueError as e:
            # A scalar Python cannot hold, e.g. an integer past int()'s 4,300-digit limit.
            self.problems.append(RuleProblem(self.file, f"YAML value refused: {e}"))
            return
        if document is not None:
            self.document = document
        self._check(self.document.data if self.document.data is not None else {})

    def _check(self, data: Any) -> None:
        if not isinstance(data, dict):
            self.report((), "a rule file must be a mapping with `bus`, `bus_config` and `rules`")
            return
        rules = data.get("rules", [])
        self.header = self._validate(RuleFile, {**data, "rules": []}, ())
        if not isinstance(rules, list):
            self.report(("rules",), "`rules` must be a list", field="rules")
            return
        # A broken header still lets every rule be checked; its problems already fail the load.
        bus = self.header.bus if self.header else DEFAULT_BUS
        for index, raw in enumerate(rules):
            self._check_rule(bus, index, raw)

    def _validate(
        self, model: type[_M], data: Any, loc: Loc, rule: str | None = None, base: Loc = ()
    ) -> _M | None:
        """``model`` validated from ``data``, or None with each error reported; ``loc`` locates
        ``data`` in the document, ``base`` prefixes the field paths shown."""
        try:
            return model.model_validate(data)
        except ValidationError as e:
            for error in e.errors():
                where = tuple(error["loc"])
                self.report(
                    loc + where,
                    _pydantic_message(error),
                    rule=rule,
                    field=_field_path(base + where),
                )
            return None

    def _check_rule(self, bus: str, index: int, raw: Any) -> None:
        loc: Loc = ("rules", index)
        name = raw.get("name") if isinstance(raw, dict) else None
        name = name if isinstance(name, str) else None
        if name is not None:
            self.rule_names.append((name, self.document.line_of((*loc, "name"))))
        model = self._validate(Rule, raw, loc, name)
        if model is None:
            return
        problems_before = len(self.problems)
        pattern = self._compile_pattern(model, loc)
        schedule = self._compile_schedule(model, loc)
        targets = [self._load_target(model, i, spec, loc) for i, spec in enumerate(model.targets)]
        if len(self.problems) > problems_before:
            return
        self.rules.append(
            LoadedRule(
                bus=bus,
                name=model.name,
                arn=rule_arn(bus, model.name, self.settings),
                model=model,
                pattern=pattern,
                schedule=schedule,
                targets=[t for t in targets if t is not None],
                file=self.file,
                line=self.document.line_of(loc),
            )
        )

    def _compile_pattern(self, model: Rule, loc: Loc) -> CompiledPattern | None:
        if model.event_pattern is None:
            return None
        try:
            return compile_pattern(model.event_pattern)
        except InvalidPatternError as e:
            where = ("event_pattern", *_dotted_loc(e.path))
            field = _field_path(("event_pattern", e.path)) if e.path else "event_pattern"
            self.report((*loc, *where), e.reason, rule=model.name, field=field)
            return None

    def _compile_schedule(self, model: Rule, loc: Loc) -> Schedule | None:
        if model.schedule_expression is None:
            return None
        try:
            return parse_schedule(
                model.schedule_expression,
                model.timezone,
                start=model.start_date,
                end=model.end_date,
            )
        except InvalidScheduleError as e:
            field = _SCHEDULE_FIELDS.get(e.field, "schedule_expression")
            message = e.reason if e.field in _SCHEDULE_FIELDS else str(e)
            self.report((*loc, field), message, rule=model.name, field=field)
            return None

    def _load_target(
        self, model: Rule, index: int, spec: TargetSpec, rule_loc: Loc
    ) -> LoadedTarget | None:
        loc: Loc = (*rule_loc, "targets", index)
        base: Loc = ("targets", index)
        config = self._target_config(model.name, spec, loc, base)
        try:
            target_input = compile_target_input(
                input=spec.input if spec.has_input else NO_INPUT,
                input_path=spec.input_path,
                input_transformer=(
                    spec.input_transformer.model_dump() if spec.input_transformer else None
                ),
                target_id=spec.id,
            )
        except InvalidTransformError as e:
            where = _dotted_loc(e.field)
            self.report((*loc, *where), e.reason, rule=model.name, field=_field_path(base + where))
            return None
        if config is None:
            return None
        return LoadedTarget(
            id=spec.id,
            type=spec.type,
            spec=spec,
            config=config,
            input=target_input,
            retry=spec.retry_policy,
            dead_letter_stream=spec.dead_letter.stream if spec.dead_letter else None,
        )

    def _target_config(
        self, rule: str, spec: TargetSpec, loc: Loc, base: Loc
    ) -> TargetConfig | None:
        """The target's own settings checked by its type's ``config_model``."""
        known = known_target_types()
        if spec.type not in known:
            message = f"unknown target type {spec.type!r}; known types: {', '.join(known)}"
            self.report((*loc, "type"), message, rule=rule, field=_field_path((*base, "type")))
            return None
        try:
            model = load_target_config(spec.type)
        except KeyError as e:
            field = _field_path((*base, "type"))
            self.report((*loc, "type"), str(e.args[0]), rule=rule, field=field)
            return None
        return self._validate(model, spec.type_settings(), loc, rule, base)


# InvalidScheduleError.field values that name a rule field of their own.
_SCHEDULE_FIELDS = {
    "expression": "schedule_expression",
    "timezone": "timezone",
    "start": "start_date",
    "start_date": "start_date",
    "end": "end_date",
    "end_date": "end_date",
}


def _rule_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        found = (p for p in path.rglob("*") if p.suffix in RULE_FILE_SUFFIXES and p.is_file())
        return sorted(found)
    raise RuleFileError([RuleProblem(str(path), "no such file or directory")])


def _read_file(path: str | Path, *, settings: Settings | None = None) -> _FileReader:
    """One file checked on its own (cross-file checks are :func:`load_rules`'s)."""
    reader = _FileReader(str(path), settings or get_settings())
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reader.problems.append(RuleProblem(str(path), f"cannot read the file: {e}"))
        return reader
    reader.read(text)
    return reader


def load_rules(path: str | Path, *, settings: Settings | None = None) -> RuleSet:
    """Every rule under ``path`` (a file or a directory), compiled; ``RuleFileError`` with all
    the problems found otherwise."""
    with collector_paused():
        readers = [_read_file(p, settings=settings) for p in _rule_files(Path(path))]
    problems = [p for r in readers for p in r.problems]
    problems += _duplicate_names(readers) + _duplicate_bus_configs(readers)
    if problems:
        problems.sort(key=lambda p: (p.file, p.line or 0))
        raise RuleFileError(problems)
    return _assemble(readers)


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


def _duplicate_names(readers: list[_FileReader]) -> list[RuleProblem]:
    seen: dict[tuple[str, str], str] = {}
    problems = []
    for reader in readers:
        if reader.header is None:
            continue
        bus = reader.header.bus
        for name, line in reader.rule_names:
            first = seen.get((bus, name))
            if first is None:
                seen[(bus, name)] = f"{reader.file}:{line}"
                continue
            message = f"rule name {name!r} is already used on bus {bus!r} at {first}"
            problems.append(RuleProblem(reader.file, message, line, name, "name"))
    return problems


def _duplicate_bus_configs(readers: list[_FileReader]) -> list[RuleProblem]:
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


def _assemble(readers: list[_FileReader]) -> RuleSet:
    ruleset = RuleSet()
    for reader in readers:
        assert reader.header is not None  # a reader without problems has its header
        bus = ruleset.buses.setdefault(reader.header.bus, BusRules(reader.header.bus))
        if reader.header.bus_config is not None:
            bus.config = reader.header.bus_config
    for reader in readers:
        for rule in reader.rules:
            bus = ruleset.buses[rule.bus]
            bus.rules[rule.name] = _with_bus_dead_letter(rule, bus.config)
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
