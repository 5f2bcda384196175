"""Many patterns in one automaton, walked once per event (the design of event-ruler and quamina).

Each branch of each pattern is a path through the automaton: one transition per positive field,
in path order, then one per absent path; the state it ends in names the pattern. A transition is
keyed by the field's whole condition set, so branches that begin with the same fields share
their states, and 10,000 rules that all require ``source = "shop"`` pass through one state.

Matching walks from the start state: for each field path leaving a state, the event's leaves at
that path are looked up in the transition table (a dict for exact values, indexes for prefix,
suffix, case-insensitive and numeric conditions, and a short list of predicates for the rest),
so the cost depends on the event and on how many rules actually match it, not on how many rules
exist. Each walk carries the array elements chosen so far (see ``flatten``), and a step that
would pick a leaf from another element of an array already in use is not taken.
"""

from __future__ import annotations

from bisect import insort
from typing import Any

from eventbus.patterns import nodes as n
from eventbus.patterns.compiled import CompiledPattern
from eventbus.patterns.flatten import Leaf, Leaves, PathTree, Trail, flatten, merge_trails
from eventbus.patterns.predicates import Predicate, compile_condition
from eventbus.patterns.ranges import RangeIndex
from eventbus.patterns.values import Key

__all__ = ["Automaton"]

_NOTHING: tuple[State, ...] = ()


class State:
    __slots__ = ("absent", "edges", "rules")

    def __init__(self) -> None:
        self.edges: dict[str, Table] = {}  # field path -> its transitions
        self.absent: dict[str, State] = {}  # path that must have no value -> next state
        self.rules: set[str] = set()  # the patterns a walk reaching this state matches


class _Affixes:
    """Prefix (or suffix) texts of one table: one dict probe per distinct text length.

    A guarded index holds wildcards under their literal first (or last) segment, each entry
    with the full wildcard test, so only wildcards sharing the value's start are tried.
    """

    __slots__ = ("by_text", "guarded", "ignore_case", "lengths", "suffix")

    def __init__(self, suffix: bool, ignore_case: bool, guarded: bool) -> None:
        self.suffix = suffix
        self.ignore_case = ignore_case
        self.guarded = guarded
        self.by_text: dict[str, list[Any]] = {}  # text -> states, or (test, state) if guarded
        self.lengths: list[int] = []

    def add(self, text: str, entry: Any) -> None:
        if len(text) not in self.lengths:
            insort(self.lengths, len(text))
        self.by_text.setdefault(text, []).append(entry)

    def collect(self, value: str, out: list[State]) -> None:
        text = value.lower() if self.ignore_case else value
        size, by_text = len(text), self.by_text
        for length in self.lengths:
            if length > size:
                break
            found = by_text.get(text[size - length :] if self.suffix else text[:length])
            if not found:
                continue
            if self.guarded:
                out.extend(state for test, state in found if test(value))
            else:
                out.extend(found)


class Table:
    """The transitions out of one state on one field path."""

    __slots__ = ("affixes", "anything", "exact", "lower", "numeric", "others", "simple", "targets")

    def __init__(self) -> None:
        self.targets: dict[frozenset[n.Condition], State] = {}
        self.exact: dict[Key, list[State]] = {}
        self.simple = True  # only exact values so far: lookup is one dict probe
        self.lower: dict[str, list[State]] = {}
        self.affixes: dict[tuple[bool, bool, bool], _Affixes] = {}
        self.numeric: RangeIndex[State] | None = None
        self.anything: list[State] = []
        self.others: list[tuple[Predicate, State]] = []

    def target(self, conditions: frozenset[n.Condition]) -> State:
        state = self.targets.get(conditions)
        if state is None:
            state = self.targets[conditions] = State()
            for condition in conditions:
                self._index(condition, state)
        return state

    def _index(self, c: n.Condition, state: State) -> None:
        if isinstance(c, n.Exact):
            self.exact.setdefault(c.key, []).append(state)
            return
        self.simple = False
        if isinstance(c, n.EqualsIgnoreCase):
            self.lower.setdefault(c.text, []).append(state)
        elif isinstance(c, (n.Prefix, n.Suffix)):
            self._affixes(isinstance(c, n.Suffix), c.ignore_case, False).add(c.text, state)
        elif isinstance(c, n.Wildcard) and (c.segments[0] or c.segments[-1]):
            suffix = not c.segments[0]
            text = c.segments[-1] if suffix else c.segments[0]
            self._affixes(suffix, False, True).add(text, (compile_condition(c), state))
        elif isinstance(c, n.Numeric):
            if self.numeric is None:
                self.numeric = RangeIndex()
            self.numeric.add(c, state)
        elif c == n.Exists(True):
            self.anything.append(state)
        else:
            self.others.append((compile_condition(c), state))

    def _affixes(self, suffix: bool, ignore_case: bool, guarded: bool) -> _Affixes:
        kind = (suffix, ignore_case, guarded)
        if kind not in self.affixes:
            self.affixes[kind] = _Affixes(*kind)
        return self.affixes[kind]

    def lookup(self, key: Key) -> list[State] | tuple[State, ...]:
        found = self.exact.get(key)
        if self.simple:
            return found or _NOTHING
        out = list(found) if found else []
        if self.anything:
            out.extend(self.anything)
        kind = type(key)
        if kind is str:
            if self.lower:
                out.extend(self.lower.get(key.lower(), _NOTHING))  # type: ignore[union-attr]
            for affixes in self.affixes.values():
                affixes.collect(key, out)  # type: ignore[arg-type]
        elif kind is float and self.numeric is not None:
            out.extend(self.numeric.find(key))  # type: ignore[arg-type]
        if self.others:
            out.extend([state for test, state in self.others if test(key)])
        return out


class Automaton:
    """All branches of all added patterns; ``match`` answers the names an event matches."""

    def __init__(self) -> None:
        self.root = State()
        self._paths: set[str] = set()
        self._tree: PathTree | None = PathTree.of(())

    def add(self, name: str, pattern: CompiledPattern) -> None:
        for branch in pattern.branches:
            state = self.root
            for field in branch.positive:
                table = state.edges.get(field.path)
                if table is None:
                    table = state.edges[field.path] = Table()
                state = table.target(field.conditions)
            for path in branch.absent:
                nxt = state.absent.get(path)
                if nxt is None:
                    nxt = state.absent[path] = State()
                state = nxt
            state.rules.add(name)
        if not pattern.paths <= self._paths:
            self._paths |= pattern.paths
            self._tree = None

    def match(self, event: dict[str, Any]) -> set[str]:
        if not isinstance(event, dict):
            raise TypeError(f"an event must be a JSON object, not {type(event).__name__}")
        if self._tree is None:
            self._tree = PathTree.of(self._paths)
        leaves = flatten(event, self._tree)
        found: set[str] = set()
        todo: list[tuple[State, Trail]] = [(self.root, ())]
        seen: set[tuple[State, Trail]] = set()
        while todo:
            state, chosen = todo.pop()
            for item in _successors(state, chosen, leaves):
                target = item[0]
                if target.rules:
                    found |= target.rules
                # A state with nowhere to go is only worth its rule names: no need to visit it.
                if (target.edges or target.absent) and item not in seen:
                    seen.add(item)
                    todo.append(item)
        return found


def _successors(state: State, chosen: Trail, leaves: Leaves) -> list[tuple[State, Trail]]:
    """The states one more field takes ``state`` to, each with the array elements it chose."""
    out: list[tuple[State, Trail]] = []
    edges = state.edges
    if len(edges) <= len(leaves):
        for path, table in edges.items():
            candidates = leaves.get(path)
            if candidates:
                _advance(table, candidates, chosen, out)
    else:
        for path, candidates in leaves.items():
            found = edges.get(path)
            if found is not None:
                _advance(found, candidates, chosen, out)
    for path, target in state.absent.items():
        if all(merge_trails(chosen, t) is None for _, t in leaves.get(path, ())):
            out.append((target, chosen))
    return out


def _advance(table: Table, candidates: list[Leaf], chosen: Trail, out: list[Any]) -> None:
    # Measured hot loop: one lookup per leaf the event has at this table's path.
    for key, trail in candidates:
        targets = table.lookup(key)
        if targets:
            merged = merge_trails(chosen, trail) if trail else chosen
            if merged is not None:
                out.extend([(target, merged) for target in targets])
