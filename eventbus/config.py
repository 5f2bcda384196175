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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_args

import orjson
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from eventbus.arns import TargetRef
from eventbus.cloudformation import (
    RESOURCE_TYPE,
    cloudformation_loc,
    convert_rule,
    is_cloudformation,
)
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
from eventbus.typos import closest
from eventbus.yaml_load import Document, Intrinsic, YamlError, load_yaml

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
    # What was found but does not stop the rules from loading (printed by `rules validate`).
    warnings: list[RuleProblem] = field(default_factory=list)

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


@dataclass(slots=True)
class _RuleItem:
    """One rule as written, in rule-file spelling, and where its fields are in the document
    (under their CloudFormation names when it was written as an ``AWS::Events::Rule``)."""

    loc: Loc
    data: Any
    bus: str
    cloudformation: bool = False
    refs: dict[int, TargetRef] = field(default_factory=dict)
    no_type: set[int] = field(default_factory=set)  # targets whose CloudFormation Arn is wrong

    def written(self, rel: Loc) -> Loc:
        """A field path of the rule as it is spelt in the file."""
        return cloudformation_loc(rel) if self.cloudformation else rel

    @property
    def name(self) -> str | None:
        name = self.data.get("name") if isinstance(self.data, dict) else None
        return name if isinstance(name, str) else None

    def targets(self) -> list[Any]:
        targets = self.data.get("targets") if isinstance(self.data, dict) else None
        return targets if isinstance(targets, list) else []


# (bus, rule, target id) → the target as written (rule-file spelling), for ARN references.
_TargetIndex = dict[tuple[str, str, str], dict[str, Any]]
# The keys of a CloudFormation template besides Resources: accepted, and not used.
_TEMPLATE_KEYS = frozenset(
    {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Mappings"}
    | {"Conditions", "Transform", "Outputs", "Resources"}
)
# Every top-level field of an EventBridge event: a pattern key spelt close to one is a typo.
_EVENT_FIELDS = (
    *("version", "id", "detail-type", "source", "account"),
    *("time", "region", "resources", "detail"),
)


class _FileReader:
    """Checks one rule file, collecting its problems instead of stopping at the first."""

    def __init__(self, file: str, settings: Settings) -> None:
        self.file = file
        self.settings = settings
        self.problems: list[RuleProblem] = []
        self.warnings: list[RuleProblem] = []
        self.document = Document(None, {})
        self.header: RuleFile | None = None
        self.items: list[_RuleItem] = []
        self.rules: list[LoadedRule] = []
        # every (bus, name, line) seen, valid rule or not
        self.rule_names: list[tuple[str, str, int | None]] = []
        # Where CloudFormation intrinsics were written: problems under them are their echoes.
        self.intrinsics: list[Loc] = []

    def report(
        self,
        loc: Loc,
        message: str,
        *,
        rule: str | None = None,
        field: str = "",
        warning: bool = False,
    ) -> None:
        if any(loc[: len(where)] == where for where in self.intrinsics):
            return
        line = self.document.line_of(loc)
        found = RuleProblem(self.file, message, line, rule, field or None, warning)
        (self.warnings if warning else self.problems).append(found)

    def holds_intrinsic(self, item: _RuleItem, rel: Loc) -> bool:
        """Whether the value at ``rel`` in the rule has an intrinsic in it: it is not compiled,
        as whatever its compiler said would be about the unresolved intrinsic."""
        where = (*item.loc, *item.written(rel))
        return any(loc[: len(where)] == where for loc in self.intrinsics)

    def report_rule(
        self, item: _RuleItem, rel: Loc, message: str, *, warning: bool = False
    ) -> None:
        """A problem at ``rel``, a field path from the rule, in rule-file spelling."""
        written = item.written(rel)
        where = (*item.loc, *written)
        self.report(where, message, rule=item.name, field=_field_path(written), warning=warning)

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
        self._refuse_intrinsics()
        self._collect(self.document.data if self.document.data is not None else {})

    def _refuse_intrinsics(self) -> None:
        for loc, name in _intrinsics(self.document.data, ()):
            self.report(
                loc,
                f"CloudFormation intrinsic `{name}` cannot be resolved in a rule file; "
                "write the value itself",
                field=_field_path(loc),
            )
            self.intrinsics.append(loc)

    def _collect(self, data: Any) -> None:
        """The header checked, and every rule of the file gathered in rule-file spelling."""
        if not isinstance(data, dict):
            self.report((), "a rule file must be a mapping with `bus`, `bus_config` and `rules`")
            return
        template = "Resources" in data
        header = {k: v for k, v in data.items() if not (template and k in _TEMPLATE_KEYS)}
        rules = data.get("rules", [])
        self.header = self._validate(RuleFile, {**header, "rules": []}, ())
        # A broken header still lets every rule be checked; its problems already fail the load.
        bus = self.header.bus if self.header else DEFAULT_BUS
        if template:
            self._collect_resources(bus, data["Resources"])
        if not isinstance(rules, list):
            self.report(("rules",), "`rules` must be a list", field="rules")
            return
        for index, raw in enumerate(rules):
            self._collect_item(bus, ("rules", index), raw)

    def _collect_resources(self, bus: str, resources: Any) -> None:
        if not isinstance(resources, dict):
            self.report(("Resources",), "`Resources` must be a mapping", field="Resources")
            return
        for logical_id, resource in resources.items():
            loc: Loc = ("Resources", logical_id)
            if isinstance(resource, dict) and resource.get("Type") != RESOURCE_TYPE:
                message = f"ignored: only {RESOURCE_TYPE} resources are read from a template"
                self.report(loc, message, field=_field_path(loc), warning=True)
            else:
                self._collect_resource(bus, loc, resource, str(logical_id))

    def _collect_item(self, bus: str, loc: Loc, raw: Any) -> None:
        if isinstance(raw, dict) and "Type" in raw:
            self._collect_resource(bus, loc, raw, None)
        elif isinstance(raw, dict) and len(raw) == 1:
            # `- MyRule: {Type: AWS::Events::Rule, Properties: ...}` pasted from a template
            [(logical_id, resource)] = raw.items()
            if isinstance(resource, dict) and "Type" in resource:
                self._collect_resource(bus, (*loc, logical_id), resource, str(logical_id))
            else:
                self._collect_rule(bus, loc, raw, None)
        else:
            self._collect_rule(bus, loc, raw, None)

    def _collect_resource(self, bus: str, loc: Loc, resource: Any, logical_id: str | None) -> None:
        if not isinstance(resource, dict):
            self.report(loc, f"a resource must be a mapping with Type: {RESOURCE_TYPE}")
            return
        if resource.get("Type") != RESOURCE_TYPE:
            message = f"only {RESOURCE_TYPE} resources are rules (found {resource.get('Type')!r})"
            self.report((*loc, "Type"), message, field=_field_path((*loc, "Type")))
            return
        props = resource.get("Properties")
        if not isinstance(props, dict):
            message = "a rule resource needs `Properties`, a mapping"
            self.report((*loc, "Properties"), message, field=_field_path((*loc, "Properties")))
            return
        self._collect_rule(bus, (*loc, "Properties"), props, logical_id, cloudformation=True)

    def _collect_rule(
        self,
        bus: str,
        loc: Loc,
        raw: Any,
        logical_id: str | None,
        *,
        cloudformation: bool = False,
    ) -> None:
        if not (cloudformation or (isinstance(raw, dict) and is_cloudformation(raw))):
            self.items.append(_RuleItem(loc, raw, bus))
            return
        converted = convert_rule(raw, logical_id)
        item = _RuleItem(
            loc, converted.rule, converted.bus or bus, True, converted.refs, converted.no_type
        )
        self.items.append(item)
        for note in converted.notes:
            where = (*loc, *note.loc)
            field = _field_path(note.loc)
            self.report(where, note.message, rule=item.name, field=field, warning=note.warning)

    def check(self, index: _TargetIndex) -> None:
        """Every rule gathered, checked and compiled; ``index`` resolves target references."""
        for item in self.items:
            self._check_rule(item, index)

    def _validate(
        self,
        model: type[_M],
        data: Any,
        loc: Loc,
        rule: str | None = None,
        base: Loc = (),
        *,
        item: _RuleItem | None = None,
        also_known: Sequence[str] = (),
        skip: Callable[[Loc], bool] = lambda loc: False,
    ) -> _M | None:
        """``model`` validated from ``data``, or None with each error reported (except those
        ``skip`` says are reported elsewhere); ``loc`` locates ``data`` in the document,
        ``base`` prefixes the field paths shown, or, with ``item``, locates ``data`` in that
        rule. An unknown field's error names the nearest known one (``also_known`` added)."""
        try:
            return model.model_validate(data)
        except ValidationError as e:
            for error in e.errors():
                where = tuple(error["loc"])
                if skip(where):
                    continue
                message = _pydantic_message(error)
                if error["type"] == "extra_forbidden" and where:
                    known = [*_fields_at(model, where[:-1]), *also_known]
                    message += _did_you_mean(str(where[-1]), known)
                if item is not None:
                    self.report_rule(item, base + where, message)
                else:
                    self.report(loc + where, message, rule=rule, field=_field_path(base + where))
            return None

    def _check_rule(self, item: _RuleItem, index: _TargetIndex) -> None:
        name = item.name
        if name is not None:
            line = self.document.line_of((*item.loc, *item.written(("name",))))
            self.rule_names.append((item.bus, name, line))
        errors_before = len(self.problems)
        # Each target is checked on its own first, so a rule-level error (six targets, a bad
        # state) hides none of theirs; the rule is then checked with stand-ins for the targets
        # that failed, which keep their ids for the uniqueness check.
        raw_targets = item.data.get("targets") if isinstance(item.data, dict) else None
        specs = [self._target_spec(item, i, raw, index) for i, raw in enumerate(item.targets())]
        data = item.data
        if isinstance(raw_targets, list):
            stand_ins = [
                spec or _stand_in(raw, position)
                for position, (spec, raw) in enumerate(zip(specs, raw_targets, strict=True))
            ]
            data = {**item.data, "targets": stand_ins}
        model = self._validate(Rule, data, item.loc, item=item)
        valid = model
        if model is None:
            # The pattern and the schedule are compiled even when other fields are wrong.
            valid, hidden = _valid_part(data)
            for message in hidden:
                self.report_rule(item, (), message)
        pattern = self._compile_pattern(valid, item) if valid else None
        schedule = self._compile_schedule(valid, item) if valid else None
        targets = [
            self._load_target(item, spec, position)
            for position, spec in enumerate(specs)
            if spec is not None
        ]
        if model is None or len(self.problems) > errors_before:
            return
        self.rules.append(
            LoadedRule(
                bus=item.bus,
                name=model.name,
                arn=rule_arn(item.bus, model.name, self.settings),
                model=model,
                pattern=pattern,
                schedule=schedule,
                targets=[t for t in targets if t is not None],
                file=self.file,
                line=self.document.line_of(item.loc),
            )
        )

    def _compile_pattern(self, model: Rule, item: _RuleItem) -> CompiledPattern | None:
        if model.event_pattern is None or self.holds_intrinsic(item, ("event_pattern",)):
            return None
        if not self._pattern_is_plausible(model.event_pattern, item):
            return None
        try:
            return compile_pattern(model.event_pattern)
        except InvalidPatternError as e:
            where = ("event_pattern", *_dotted_loc(e.path))
            self.report_rule(item, where, e.reason)
            return None

    def _pattern_is_plausible(self, pattern: Any, item: _RuleItem) -> bool:
        """Warns of top-level keys spelt close to an event field (they can never match);
        False, with a hint, when the rule's targets were indented under its pattern."""
        if isinstance(pattern, str):
            try:
                pattern = orjson.loads(pattern)
            except orjson.JSONDecodeError:
                return True  # the compiler says what is wrong with the text
        if not isinstance(pattern, dict):
            return True
        if isinstance(pattern.get("targets"), list) and "targets" not in item.data:
            message = (
                "`targets` is indented under the event pattern: "
                "did you mean to put `targets` at the rule level?"
            )
            self.report_rule(item, ("event_pattern", "targets"), message)
            return False
        for key in pattern:
            meant = closest(str(key), _EVENT_FIELDS)
            if meant is not None and meant != key:
                message = f"`{key}` never matches: the event's top-level field is `{meant}`"
                self.report_rule(item, ("event_pattern", key), message, warning=True)
        return True

    def _compile_schedule(self, model: Rule, item: _RuleItem) -> Schedule | None:
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
            self.report_rule(item, (field,), message)
            return None

    def _target_spec(
        self, item: _RuleItem, position: int, raw: Any, targets: _TargetIndex
    ) -> TargetSpec | None:
        """The common fields of one target checked (its ARN reference resolved first)."""
        ref = item.refs.get(position)
        if ref is not None and isinstance(raw, dict):
            raw = self._referenced(item, position, raw, ref, targets)
            if raw is None:
                return None
        no_type = position in item.no_type
        return self._validate(
            TargetSpec,
            raw,
            item.loc,
            base=("targets", position),
            item=item,
            skip=lambda loc: no_type and loc == ("type",),
        )

    def _load_target(self, item: _RuleItem, spec: TargetSpec, position: int) -> LoadedTarget | None:
        """A target's own settings and its input shaping checked and compiled."""
        base: Loc = ("targets", position)
        config = self._target_config(item, spec, base)
        shaping = ("input", "input_path", "input_transformer")
        if any(self.holds_intrinsic(item, (*base, name)) for name in shaping):
            return None
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
            self.report_rule(item, (*base, *_dotted_loc(e.field)), e.reason)
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

    def _referenced(
        self,
        item: _RuleItem,
        index: int,
        raw: dict[str, Any],
        ref: TargetRef,
        targets: _TargetIndex,
    ) -> dict[str, Any] | None:
        """``raw`` with the own settings of the target its ARN names."""
        found = targets.get((ref.bus, ref.rule, ref.target_id))
        where = ("targets", index, "type")
        if found is None:
            message = (
                f"the Arn names target {ref.target_id!r} of rule {ref.rule!r} on bus "
                f"{ref.bus!r}, and no rule file has it"
            )
            self.report_rule(item, where, message)
            return None
        if found.get("type") != ref.type:
            message = (
                f"the Arn says type {ref.type!r}; the target it names is {found.get('type')!r}"
            )
            self.report_rule(item, where, message)
            return None
        own = {k: v for k, v in found.items() if k not in TargetSpec.model_fields}
        return {**own, **raw}

    def _target_config(self, item: _RuleItem, spec: TargetSpec, base: Loc) -> TargetConfig | None:
        """The target's own settings checked by its type's ``config_model``, then the checks
        it wants done at load (a directory, an import)."""
        known = known_target_types()
        if spec.type not in known:
            hint = _did_you_mean(spec.type, known).removeprefix(";").strip()
            hint = f"{hint} " if hint else ""
            message = f"unknown target type {spec.type!r}; {hint}known types: {', '.join(known)}"
            self.report_rule(item, (*base, "type"), message)
            return None
        try:
            model = load_target_config(spec.type)
        except KeyError as e:
            self.report_rule(item, (*base, "type"), str(e.args[0]))
            return None
        config = self._validate(
            model,
            spec.type_settings(),
            item.loc,
            base=base,
            item=item,
            also_known=list(TargetSpec.model_fields),
        )
        if config is not None:
            for name, message in config.load_problems():
                self.report_rule(item, (*base, name), message)
        return config


def _stand_in(raw: Any, position: int) -> TargetSpec:
    """A target that failed its own checks, as the rule's checks see it: its id only."""
    target_id = raw.get("id") if isinstance(raw, dict) else None
    return TargetSpec.model_construct(
        id=target_id if isinstance(target_id, str) else f"#{position}", type=""
    )


def _valid_part(data: Any) -> tuple[Rule | None, list[str]]:
    """The rule with its invalid fields left out, so what is valid still gets compiled, and the
    rule-wide problems that the invalid fields kept pydantic from checking."""
    if not isinstance(data, dict):
        return None, []
    try:
        return Rule.model_validate(data), []
    except ValidationError as e:
        wrong = {error["loc"][0] for error in e.errors() if error["loc"]}
    kept = {k: v for k, v in data.items() if k not in wrong}
    try:
        return Rule.model_validate({**kept, "name": "_", "targets": []}), []
    except ValidationError as e:
        # Reported already when no field was wrong; and a wrong pattern or schedule is reported
        # already: "needs one of them" would echo it.
        echo = not wrong or wrong & {"event_pattern", "schedule_expression"}
        hidden = [_pydantic_message(error) for error in e.errors() if not error["loc"]]
        return None, [] if echo else hidden


def _did_you_mean(word: str, known: Sequence[str]) -> str:
    meant = closest(word, known)
    return f"; did you mean `{meant}`?" if meant is not None else ""


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names of the model found at ``loc`` inside ``model`` (list indexes skipped)."""
    current: type[BaseModel] | None = model
    for key in loc:
        if isinstance(key, int) or current is None:
            continue
        info = current.model_fields.get(key)
        current = _model_in(info.annotation) if info is not None else None
    return list(current.model_fields) if current is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``list[TargetSpec]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _intrinsics(node: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    """Where CloudFormation intrinsics are written: ``!Ref``-style tags and ``Fn::``/``Ref``
    mappings (a ``Ref`` to text only: an event pattern may name a field ``Ref``)."""
    if isinstance(node, Intrinsic):
        yield loc, node.tag
    elif isinstance(node, dict):
        if len(node) == 1:
            [(key, value)] = node.items()
            if isinstance(key, str) and (
                key.startswith("Fn::") or (key == "Ref" and isinstance(value, str))
            ):
                yield loc, key
                return
        for key, value in node.items():
            yield from _intrinsics(value, (*loc, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _intrinsics(value, (*loc, index))


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
        index = _target_index(readers)
        for reader in readers:
            reader.check(index)
    problems = [p for r in readers for p in r.problems]
    problems += _duplicate_names(readers) + _duplicate_bus_configs(readers)
    warnings = sorted((w for r in readers for w in r.warnings), key=_position)
    if problems:
        problems.sort(key=_position)
        raise RuleFileError(problems, warnings)
    ruleset = _assemble(readers)
    ruleset.warnings = warnings
    return ruleset


def _position(problem: RuleProblem) -> tuple[str, int]:
    return problem.file, problem.line or 0


def _target_index(readers: list[_FileReader]) -> _TargetIndex:
    """Every target written out (not by a reference), for the ARNs that name one."""
    index: _TargetIndex = {}
    for reader in readers:
        for item in reader.items:
            name = item.name
            for position, target in enumerate(item.targets()):
                if name is None or position in item.refs or not isinstance(target, dict):
                    continue
                if isinstance(target.get("id"), str):
                    index[(item.bus, name, target["id"])] = target
    return index


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
            continue  # its rules' bus is not known; the header's problems fail the load anyway
        for bus, name, line in reader.rule_names:
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
            bus = ruleset.buses.setdefault(rule.bus, BusRules(rule.bus))
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
