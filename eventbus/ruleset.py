"""The loaded rules: each bus's settings and rules, compiled and ready to route and deliver.

Built by :func:`eventbus.config.load_rules`; the router, the scheduler and the workers read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from eventbus.archives.spec import Archive
from eventbus.connections import ConnectionSpec
from eventbus.errors import RuleProblem
from eventbus.patterns import CompiledPattern, Matcher
from eventbus.rules import BusConfig, RetryPolicy, Rule, TargetSpec
from eventbus.schedule import Schedule
from eventbus.targets import TargetConfig
from eventbus.transform import TargetInput

__all__ = ["BusRules", "LoadedRule", "LoadedTarget", "RuleSet"]


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
    # The connections of every file, by name (workflow HTTP tasks authorize with them).
    connections: dict[str, ConnectionSpec] = field(default_factory=dict)
    # What was found but does not stop the rules from loading (printed by `rules validate`).
    warnings: list[RuleProblem] = field(default_factory=list)
    # The archives of every file, by name (names are unique across buses).
    archives: dict[str, Archive] = field(default_factory=dict)

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
