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

Arrays keep the walk linear in the event's size. A walk remembers an array's element only while
a field still ahead of it could share that array (``State.ahead``: fields are matched in path
order, so once past ``items.*`` no field can share ``items``); walks that differ only in arrays
nothing ahead can see are one walk. A field whose leaves lie in an array the walk remembers
only looks at the leaves of the element chosen (``_Walk.compatible``). The operators no index
serves (``Table.others``) are tried once per leaf until they hold, not once per leaf and rule.
Every walk counts its steps (a leaf looked at, a predicate run, a state reached) against a
budget, and an event that spends it raises ``MatchBudgetExceededError``: a bound on the time
one event can take whatever the rules and the event are.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from eventbus.errors import MatchBudgetExceededError
from eventbus.patterns import nodes as n
from eventbus.patterns.cidr import parse_ip
from eventbus.patterns.flatten import (
    Leaf,
    Leaves,
    PathTree,
    Trail,
    flatten,
    merge_trails,
    prefixes,
)
from eventbus.patterns.predicates import Predicate, compile_condition
from eventbus.patterns.ranges import RangeIndex
from eventbus.patterns.values import Key

if TYPE_CHECKING:
    from eventbus.patterns.compiled import CompiledPattern

__all__ = ["Automaton"]

_NOTHING: tuple[State, ...] = ()
# A table's probe for one leaf: the states it leads to (a list the caller must not change).
Finder = Callable[[Key], Sequence["State"] | None]


_NO_PATHS: frozenset[str] = frozenset()
# Below this many leaves at a path, checking each costs less than indexing them by element.
_FEW_LEAVES = 8


class State:
    __slots__ = ("absent", "ahead", "edges", "plain", "rules")

    def __init__(self) -> None:
        self.edges: dict[str, Table] = {}  # field path -> its transitions
        # path that must have no value -> (its prefixes, next state)
        self.absent: dict[str, tuple[frozenset[str], State]] = {}
        self.rules: set[str] = set()  # the patterns a walk reaching this state matches
        # Every prefix of every path still to be matched after this state: the only places an
        # array whose element the walk must remember can sit.
        self.ahead = _NO_PATHS
        # No ``exists: false`` step and no table with ``others``: from here, a walk that chose
        # no array element only looks leaves up (``Automaton.match`` does it inline).
        self.plain = True


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


def _affix_probe(kinds: Iterable[_Affixes]) -> Finder:
    """The states a leaf's prefixes (or suffixes) lead to in ``kinds``, in one call: None for a
    leaf that is not a string; a list the caller must not change."""
    specs = [(a.lengths, a.by_text, a.suffix, a.ignore_case, a.guarded) for a in kinds]

    def find(value: Key) -> Sequence[State] | None:
        if type(value) is not str:
            return None
        found: list[State] | None = None
        for lengths, by_text, suffix, ignore_case, guarded in specs:
            text = value.lower() if ignore_case else value
            size = len(text)
            for length in lengths:
                if length > size:
                    break
                hit = by_text.get(text[size - length :] if suffix else text[:length])
                if hit:
                    if guarded:  # (full wildcard test, state) pairs
                        hit = [state for test, state in hit if test(value)]
                    found = hit if found is None else found + hit
        return found

    return find


class Table:
    """The transitions out of one state on one field path."""

    __slots__ = (
        "affix_find",
        "affixes",
        "anything",
        "cidrs",
        "exact",
        "find",
        "lower",
        "numeric",
        "others",
        "prefixes",
        "simple",
        "targets",
    )

    def __init__(self, path: str) -> None:
        self.prefixes = frozenset(prefixes(path))
        self.targets: dict[frozenset[n.Condition], State] = {}
        self.exact: dict[Key, list[State]] = {}
        # ``lookup``, or while the table holds exact values only, its dict's ``get``: one C call
        # per leaf on the hot path instead of a Python frame (see ``_cheapest_find``).
        self.find: Finder = self.exact.get
        self.lower: dict[str, list[State]] = {}
        self.affixes: dict[tuple[bool, bool, bool], _Affixes] = {}
        self.affix_find: Finder = _affix_probe(())
        self.numeric: RangeIndex[State] | None = None
        self.anything: list[State] = []
        # (IP version, mask bits) -> network address >> host bits -> states
        self.cidrs: dict[tuple[int, int], dict[int, list[State]]] = {}
        self.others: list[tuple[Predicate, State]] = []

    def target(self, conditions: frozenset[n.Condition]) -> State:
        state = self.targets.get(conditions)
        if state is None:
            state = self.targets[conditions] = State()
            for condition in conditions:
                self._index(condition, state)
        return state

    def _index(self, c: n.Condition, state: State) -> None:
        self._index_one(c, state)
        self.find = self._cheapest_find()

    def _index_one(self, c: n.Condition, state: State) -> None:
        if isinstance(c, n.Exact):
            self.exact.setdefault(c.key, []).append(state)
        elif isinstance(c, n.EqualsIgnoreCase):
            self.lower.setdefault(c.text, []).append(state)
        elif isinstance(c, (n.Prefix, n.Suffix)):
            self._affixes(isinstance(c, n.Suffix), c.ignore_case, False).add(c.text, state)
            self.affix_find = _affix_probe(self.affixes.values())
        elif isinstance(c, n.Wildcard) and (c.segments[0] or c.segments[-1]):
            suffix = not c.segments[0]
            text = c.segments[-1] if suffix else c.segments[0]
            self._affixes(suffix, False, True).add(text, (compile_condition(c), state))
            self.affix_find = _affix_probe(self.affixes.values())
        elif isinstance(c, n.Numeric):
            if self.numeric is None:
                self.numeric = RangeIndex()
            self.numeric.add(c, state)
        elif c == n.Exists(True):
            self.anything.append(state)
        elif isinstance(c, n.Cidr):
            net = c.network
            host_bits = net.max_prefixlen - net.prefixlen
            by_network = self.cidrs.setdefault((net.version, net.prefixlen), {})
            by_network.setdefault(int(net.network_address) >> host_bits, []).append(state)
        else:
            self.others.append((compile_condition(c), state))

    def _cheapest_find(self) -> Finder:
        """``lookup``, or when the table holds one kind of index only, that index's own probe:
        the hot path then skips the checks of the indexes the table does not have."""
        kinds = [self.exact, self.lower, self.affixes, self.numeric, self.anything, self.cidrs]
        if sum(1 for kind in kinds if kind) > 1:
            return self.lookup
        if self.numeric is not None:
            return self._find_number
        if self.affixes:
            return self.affix_find
        if self.lower:
            return self._find_lower
        if self.anything or self.cidrs:
            return self.lookup
        return self.exact.get

    def _find_number(self, key: Key) -> Sequence[State] | None:
        # The first lookup after a change installs the index's own probe in its place.
        probe = self.find = self.numeric.probe()  # type: ignore[union-attr]
        return probe(key)

    def _find_lower(self, key: Key) -> list[State] | None:
        return self.lower.get(key.lower()) if type(key) is str else None

    def _affixes(self, suffix: bool, ignore_case: bool, guarded: bool) -> _Affixes:
        kind = (suffix, ignore_case, guarded)
        if kind not in self.affixes:
            self.affixes[kind] = _Affixes(*kind)
        return self.affixes[kind]

    def lookup(self, key: Key) -> list[State] | tuple[State, ...]:
        """The states ``key`` leads to, except those of ``others`` (see ``_Walk.advance``)."""
        found = self.exact.get(key)
        out = list(found) if found else []
        if self.anything:
            out.extend(self.anything)
        kind = type(key)
        if kind is str:
            if self.lower:
                out.extend(self.lower.get(key.lower(), _NOTHING))  # type: ignore[union-attr]
            if self.affixes:
                out.extend(self.affix_find(key) or _NOTHING)
            if self.cidrs:
                self._collect_cidrs(key, out)  # type: ignore[arg-type]
        elif kind is float and self.numeric is not None:
            out.extend(self.numeric.find(key))  # type: ignore[arg-type]
        return out

    def _collect_cidrs(self, text: str, out: list[State]) -> None:
        """One parse of the address, then one probe per mask length the rules use."""
        address = parse_ip(text)
        if address is None:
            return
        number, version, bits = int(address), address.version, address.max_prefixlen
        for (net_version, prefix_len), by_network in self.cidrs.items():
            if net_version == version:
                out.extend(by_network.get(number >> (bits - prefix_len), _NOTHING))


class Automaton:
    """All branches of all added patterns; ``match`` answers the names an event matches."""

    def __init__(self) -> None:
        self.root = State()
        self._paths: set[str] = set()
        self._tree: PathTree | None = PathTree.of(())

    def add(self, name: str, pattern: CompiledPattern) -> None:
        for branch in pattern.branches:
            steps = [field.path for field in branch.positive] + list(branch.absent)
            state = self.root
            for i, field in enumerate(branch.positive):
                table = state.edges.get(field.path)
                if table is None:
                    table = state.edges[field.path] = Table(field.path)
                target = table.target(field.conditions)
                if table.others:
                    state.plain = False
                state = target
                _look_ahead(state, steps[i + 1 :])
            for i, path in enumerate(branch.absent, start=len(branch.positive)):
                step = state.absent.get(path)
                if step is None:
                    step = state.absent[path] = (frozenset(prefixes(path)), State())
                    state.plain = False
                state = step[1]
                _look_ahead(state, steps[i + 1 :])
            state.rules.add(name)
        if not pattern.paths <= self._paths:
            self._paths |= pattern.paths
            self._tree = None

    def match(self, event: dict[str, Any], budget: int) -> set[str]:
        """The names ``event`` matches; ``MatchBudgetExceededError`` past ``budget`` steps."""
        leaves, array_paths = self._flatten(event)
        walk: _Walk | None = None  # made for the first state that needs more than lookups
        spent = 0
        found: set[str] = set()
        todo: list[tuple[State, Trail]] = [(self.root, ())]
        seen: set[tuple[State, Trail]] = set()
        out: list[tuple[State, Trail]] = []  # one state's successors, reused: no list per state
        # Measured hot loop: the states one more field takes ``state`` to, each with the array
        # elements it chose, then those worth visiting. A walk with no array element chosen, at
        # a state with lookups only (most steps of most walks), takes the short way
        # (``_look_up``); the rest is ``_Walk.visit``.
        while todo:
            state, chosen = todo.pop()
            if chosen or not state.plain:
                if walk is None:
                    walk = _Walk(leaves, array_paths, budget)
                walk.steps = spent
                walk.visit(state, chosen, out)
                spent = walk.steps
            else:
                # The budget is counted per state, in bulk: the same count for the same event.
                spent += _look_up(state, leaves, out) + len(out)
                if spent > budget:
                    raise MatchBudgetExceededError(budget)
            for item in out:
                target = item[0]
                found |= target.rules
                # A state with nowhere to go is only worth its rule names: no need to visit it.
                if target.edges or target.absent:
                    if item[1]:  # forget the arrays nothing ahead of ``target`` can share
                        item = (target, _project(item[1], target.ahead, array_paths))
                    if item not in seen:
                        seen.add(item)
                        todo.append(item)
            out.clear()
        return found

    def _flatten(self, event: dict[str, Any]) -> tuple[Leaves, list[str]]:
        if not isinstance(event, dict):
            raise TypeError(f"an event must be a JSON object, not {type(event).__name__}")
        if self._tree is None:
            self._tree = PathTree.of(self._paths)
        return flatten(event, self._tree)


def _look_up(state: State, leaves: Leaves, out: list[tuple[State, Trail]]) -> int:
    """The steps out of a plain ``state`` for a walk with no array element chosen, into
    ``out``: each leaf looked up, taking its own elements along; how many leaves it looked at."""
    looked = 1
    for path, table in _fields(state.edges, leaves):
        candidates = leaves.get(path)
        if candidates:
            looked += len(candidates)
            find = table.find
            for key, trail in candidates:  # a leaf's own elements are the walk's choice
                targets = find(key)
                if targets:
                    if len(targets) == 1:
                        out.append((targets[0], trail))
                    else:
                        out.extend([(target, trail) for target in targets])
    return looked


def _fields(edges: dict[str, Table], leaves: Leaves) -> Iterable[tuple[str, Table]]:
    """The fields out of a state worth looking at, walking the smaller side: a state with
    thousands of fields against a small event, or an event with thousands of paths against a
    state with a few fields."""
    if len(edges) <= len(leaves):
        return edges.items()
    return [(path, edges[path]) for path in leaves.keys() & edges.keys()]


def _project(trail: Trail, ahead: frozenset[str], array_paths: list[str]) -> Trail:
    """``trail`` without the arrays no path in ``ahead`` can share."""
    return tuple([entry for entry in trail if array_paths[entry[0]] in ahead])


def _look_ahead(state: State, paths: list[str]) -> None:
    ahead = {prefix for path in paths for prefix in prefixes(path)}
    if not ahead <= state.ahead:
        state.ahead = state.ahead | ahead


class _Walk:
    """One event being matched: its leaves, its arrays' paths and the steps spent so far."""

    __slots__ = ("array_paths", "budget", "indexes", "leaves", "shared", "steps")

    def __init__(self, leaves: Leaves, array_paths: list[str], budget: int) -> None:
        self.leaves = leaves
        self.array_paths = array_paths
        self.budget = budget
        self.steps = 0
        # path -> (leaves by array element, how many of the path's leaves each array holds)
        self.indexes: dict[str, tuple[dict[tuple[int, int], list[Leaf]], dict[int, int]]] = {}
        # (table, elements its path can see) -> the steps it allows (see ``advance_shared``)
        self.shared: dict[tuple[Table, Trail], list[tuple[State, Trail]]] = {}

    def spend(self, steps: int) -> None:
        self.steps += steps
        if self.steps > self.budget:
            raise MatchBudgetExceededError(self.budget)

    def project(self, trail: Trail, ahead: frozenset[str]) -> Trail:
        return _project(trail, ahead, self.array_paths)

    def visit(self, state: State, chosen: Trail, out: list[Any]) -> None:
        """The steps out of ``state`` that ``chosen`` allows, into ``out``, counted."""
        leaves, looked = self.leaves, 1
        for path, table in _fields(state.edges, leaves):
            candidates = leaves.get(path)
            if candidates:
                looked += self.advance(path, table, candidates, chosen, out)
        if state.absent:
            looked += self.absent(state, chosen, out)
        self.spend(looked + len(out))

    def advance(
        self, path: str, table: Table, candidates: list[Leaf], chosen: Trail, out: list[Any]
    ) -> int:
        """``_advance`` for a table with ``others``, or a walk that remembers arrays; how many
        leaves it looked at."""
        if chosen and len(candidates) > _FEW_LEAVES:
            array_paths, visible = self.array_paths, table.prefixes
            seen = tuple([entry for entry in chosen if array_paths[entry[0]] in visible])
            if len(seen) < len(chosen):
                return self.advance_shared(path, table, candidates, chosen, seen, out)
            candidates = self.in_element(path, chosen[-1], candidates)
        if table.others:
            self.advance_others(table, candidates, chosen, out)
        else:
            _advance(table, candidates, chosen, out)
        return len(candidates)

    def advance_shared(
        self,
        path: str,
        table: Table,
        candidates: list[Leaf],
        chosen: Trail,
        seen: Trail,
        out: list[Any],
    ) -> int:
        """``advance`` for a walk that remembers arrays the leaves at ``path`` cannot be in.

        What the table does depends only on ``seen``, the elements ``path`` can see, so it is
        worked out once per ``seen`` and replayed for every walk that differs in the rest (a
        field ahead, such as an ``exists: false`` one, keeps those arrays in mind).
        """
        key = (table, seen)
        steps = self.shared.get(key)
        if steps is None:
            found: list[tuple[State, Trail]] = []
            looked = self.advance(path, table, candidates, seen, found)
            steps = self.shared[key] = list(
                dict.fromkeys([(t, self.project(trail, t.ahead)) for t, trail in found])
            )
        else:
            looked = len(steps)
        # ``seen`` agrees with ``chosen``, and the other arrays of a step are none of chosen's.
        out.extend([(t, merge_trails(chosen, trail) or chosen) for t, trail in steps])
        return looked

    def absent(self, state: State, chosen: Trail, out: list[Any]) -> int:
        """The ``exists: false`` steps out of ``state`` that ``chosen`` allows; the leaves seen."""
        looked = 0
        for path, (path_prefixes, target) in state.absent.items():
            candidates = self.leaves.get(path)
            if candidates:
                if chosen:
                    candidates = self.compatible(path, path_prefixes, chosen, candidates)
                looked += len(candidates)
                if any(merge_trails(chosen, trail) is not None for _, trail in candidates):
                    continue
            out.append((target, chosen))
        return looked

    def advance_others(
        self, table: Table, candidates: list[Leaf], chosen: Trail, out: list[Any]
    ) -> None:
        """``advance`` for a table with predicates no index serves (``Table.others``)."""
        others = table.others
        # The predicates still to hold, per element chosen: once one holds, the state it leads
        # to is reached, and trying it on the array's other leaves would be wasted.
        pending: dict[Trail, list[tuple[Predicate, State]]] = {}
        for key, trail in candidates:
            merged = merge_trails(chosen, trail) if trail else chosen
            if merged is None:
                continue
            targets = table.lookup(key)
            if targets:
                out.extend([(target, merged) for target in targets])
            left = pending.get(merged, others)
            if left:
                self.spend(len(left))
                kept = []
                for test, target in left:
                    if test(key):
                        out.append((target, merged))
                    else:
                        kept.append((test, target))
                pending[merged] = kept

    def compatible(
        self, path: str, path_prefixes: frozenset[str], chosen: Trail, candidates: list[Leaf]
    ) -> list[Leaf]:
        """``candidates`` (the leaves at ``path``) narrowed to the element ``chosen`` has for
        the innermost array they can sit in; the caller still checks each with merge_trails."""
        if len(candidates) <= _FEW_LEAVES:
            return candidates
        array_paths = self.array_paths
        for entry in reversed(chosen):  # innermost first: ids grow inwards
            if array_paths[entry[0]] in path_prefixes:
                return self.in_element(path, entry, candidates)
        return candidates  # no array chosen so far can hold a leaf at ``path``

    def in_element(self, path: str, element: tuple[int, int], candidates: list[Leaf]) -> list[Leaf]:
        """The leaves at ``path`` in ``element`` of its array, if all of them are in that array."""
        index = self.indexes.get(path)
        if index is None:
            index = self.indexes[path] = self._index(candidates)
        by_element, count = index
        if count.get(element[0]) != len(candidates):
            return candidates  # some leaves lie outside that array: they need checking one by one
        return by_element.get(element, [])

    def _index(
        self, candidates: list[Leaf]
    ) -> tuple[dict[tuple[int, int], list[Leaf]], dict[int, int]]:
        by_element: dict[tuple[int, int], list[Leaf]] = {}
        count: dict[int, int] = {}
        for leaf in candidates:
            self.spend(len(leaf[1]))
            for element in leaf[1]:
                by_element.setdefault(element, []).append(leaf)
                count[element[0]] = count.get(element[0], 0) + 1
        return by_element, count


def _advance(table: Table, candidates: list[Leaf], chosen: Trail, out: list[Any]) -> None:
    # One lookup per leaf the event has at this table's path. Most walks, with no element
    # chosen at a plain state, take ``_look_up`` instead.
    find = table.find
    for key, trail in candidates:
        targets = find(key)
        if targets:
            merged = merge_trails(chosen, trail) if trail else chosen
            if merged is not None:
                if len(targets) == 1:
                    out.append((targets[0], merged))
                else:
                    out.extend([(target, merged) for target in targets])
