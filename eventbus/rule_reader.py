"""One rule file read and checked: its YAML, its header, each rule as written (rule-file or
CloudFormation spelling), then each rule compiled, with every problem collected, each at its
file, line, rule and field path, instead of stopping at the first.

Checks that span files (unique names, one ``bus_config`` per bus) are :mod:`eventbus.config`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_args

import orjson
from pydantic import BaseModel, ValidationError

from eventbus.archives.declared import DeclaredArchive, check_archives
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
    RuleProblem,
)
from eventbus.patterns import CompiledPattern, compile_pattern
from eventbus.rules import Rule, RuleFile, TargetSpec
from eventbus.ruleset import LoadedRule, LoadedTarget
from eventbus.schedule import Schedule, parse_schedule
from eventbus.settings import DEFAULT_BUS, Settings, get_settings, rule_arn
from eventbus.targets import TargetConfig, known_target_types, load_target_config
from eventbus.transform import NO_INPUT, TargetInput, compile_target_input
from eventbus.typos import closest
from eventbus.yaml_load import Document, Intrinsic, YamlError, load_yaml

__all__ = ["FileReader", "Loc", "TargetIndex", "read_rule_file", "target_index", "target_input_of"]

Loc = tuple[str | int, ...]
_M = TypeVar("_M", bound=BaseModel)


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
TargetIndex = dict[tuple[str, str, str], dict[str, Any]]
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


class FileReader:
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
        self.archives: list[DeclaredArchive] = []

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
        self._refuse_intrinsics(text)
        self._collect(self.document.data if self.document.data is not None else {})

    def _refuse_intrinsics(self, text: str) -> None:
        if not _may_hold_intrinsics(text):
            return
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
        if self.header:
            check_archives(self, bus, self.header.archives)
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

    def check(self, index: TargetIndex) -> None:
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

    def _check_rule(self, item: _RuleItem, index: TargetIndex) -> None:
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
            if key in _EVENT_FIELDS:  # spelt right (the fields' spellings are all distinct)
                continue
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
        self, item: _RuleItem, position: int, raw: Any, targets: TargetIndex
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
            target_input = target_input_of(spec)
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
        targets: TargetIndex,
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


def target_input_of(spec: TargetSpec) -> TargetInput:
    """A target's input shaping (``input``, ``input_path`` or ``input_transformer``), compiled;
    ``InvalidTransformError`` when it is wrong."""
    return compile_target_input(
        input=spec.input if spec.has_input else NO_INPUT,
        input_path=spec.input_path,
        input_transformer=spec.input_transformer.model_dump() if spec.input_transformer else None,
        target_id=spec.id,
    )


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


def _may_hold_intrinsics(text: str) -> bool:
    """Whether a file's text can hold an intrinsic at all: a tag needs a ``!``, a mapping needs
    ``Fn::`` or ``Ref`` spelt out or escaped (``\\``). Most rule files have none of these, and
    walking their whole document for intrinsics cost a tenth of reading them."""
    return any(mark in text for mark in ("!", "Fn::", "Ref", "\\"))


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


def read_rule_file(path: str | Path, *, settings: Settings | None = None) -> FileReader:
    """One file checked on its own (cross-file checks are :func:`eventbus.config.load_rules`'s)."""
    reader = FileReader(str(path), settings or get_settings())
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reader.problems.append(RuleProblem(str(path), f"cannot read the file: {e}"))
        return reader
    reader.read(text)
    return reader


def target_index(readers: list[FileReader]) -> TargetIndex:
    """Every target written out (not by a reference), for the ARNs that name one."""
    index: TargetIndex = {}
    for reader in readers:
        for item in reader.items:
            name = item.name
            for position, target in enumerate(item.targets()):
                if name is None or position in item.refs or not isinstance(target, dict):
                    continue
                if isinstance(target.get("id"), str):
                    index[(item.bus, name, target["id"])] = target
    return index
