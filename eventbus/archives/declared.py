"""Archives declared in rule files: checked with the file, gathered with the rule set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventbus.archives.spec import Archive, ArchiveSpec
from eventbus.errors import InvalidPatternError, RuleProblem
from eventbus.patterns import CompiledPattern, compile_pattern

if TYPE_CHECKING:
    from eventbus.rule_reader import FileReader
    from eventbus.ruleset import RuleSet

__all__ = ["DeclaredArchive", "archives_of", "check_archives", "duplicate_archives"]


@dataclass(frozen=True, slots=True)
class DeclaredArchive:
    spec: ArchiveSpec
    bus: str
    pattern: CompiledPattern | None
    index: int  # its position in the file's `archives`
    line: int | None


def check_archives(reader: FileReader, bus: str, specs: list[ArchiveSpec]) -> None:
    """Compile each archive's pattern, reporting a bad one at its field, as for rules."""
    for index, spec in enumerate(specs):
        pattern = None
        if spec.event_pattern is not None:
            try:
                pattern = compile_pattern(spec.event_pattern)
            except InvalidPatternError as e:
                field = f"archives[{index}].event_pattern" + (f".{e.path}" if e.path else "")
                reader.report(("archives", index, "event_pattern"), e.reason, field=field)
                continue
        line = reader.document.line_of(("archives", index))
        reader.archives.append(DeclaredArchive(spec, bus, pattern, index, line))


def duplicate_archives(readers: list[FileReader]) -> list[RuleProblem]:
    """Archive names are unique across buses (as in an AWS account and region)."""
    seen: dict[str, str] = {}
    problems = []
    for reader in readers:
        for declared in reader.archives:
            name = declared.spec.name
            first = seen.get(name)
            if first is None:
                seen[name] = f"{reader.file}:{declared.line}"
                continue
            message = f"archive name {name!r} is already used at {first}"
            field = f"archives[{declared.index}].name"
            problems.append(RuleProblem(reader.file, message, declared.line, None, field))
    return problems


def archives_of(readers: list[FileReader], ruleset: RuleSet) -> dict[str, Archive]:
    """The archives in force, each with its bus's partitions."""
    found = {}
    for reader in readers:
        for d in reader.archives:
            partitions = ruleset.buses[d.bus].config.partitions
            found[d.spec.name] = Archive(
                d.spec.name,
                d.bus,
                partitions,
                d.pattern,
                d.spec.retention_days,
                d.spec.description,
                reader.file,
            )
    return found
