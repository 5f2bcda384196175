"""A state machine drawn as text, each state optionally marked with its status (pure).

``machine_graph`` turns a parsed definition into the vertices and labelled edges of its graph:
a Start and an End terminal, every state, ``Next``, ``Default``, each Choice rule and each
Catch as an edge; a Parallel's branches and a Map's item processor are graphs of their own,
drawn inside their state's box. ``render_graph`` lays it out top to bottom
(``graph_layout``) and returns a ``Drawing`` (lines plus colour runs); a drawing wider than
``max_width`` falls back to an outline, one state per line, which stays readable however wide
the machine is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from eventbus.workflows.graph_canvas import ASCII, UNICODE, Canvas, Charset, Drawing, StyleRun
from eventbus.workflows.graph_layout import Block, Link, layered
from eventbus.workflows.graph_status import StateMark, Status

__all__ = ["GraphEdge", "MachineGraph", "machine_graph", "render_graph"]

_NAME_LIMIT = 32
_LABEL_LIMIT = 24
START, END = "\x00start", "\x00end"  # vertex keys no state name can collide with

_SYMBOLS = {
    Status.SUCCEEDED: ("✓", "ok"), Status.FAILED: ("✗", "x"), Status.CAUGHT: ("↯", "!"),
    Status.RUNNING: ("▶", ">"), Status.ABORTED: ("■", "#"), None: ("·", "."),
}
_STYLES = {
    Status.SUCCEEDED: "green", Status.FAILED: "bold red", Status.CAUGHT: "yellow",
    Status.RUNNING: "bold cyan", Status.ABORTED: "magenta", None: "dim",
}
_LEGEND = ((Status.SUCCEEDED, "succeeded"), (Status.CAUGHT, "caught"),
           (Status.FAILED, "failed"), (Status.RUNNING, "running"),
           (Status.ABORTED, "aborted"), (None, "not reached"))

Statuses = Mapping[str, Status | StateMark]


@dataclass(frozen=True, slots=True)
class GraphEdge:
    source: str
    target: str
    label: str = ""


@dataclass(slots=True)
class MachineGraph:
    """One level of a machine: its states in definition order, its edges, and the graphs
    nested in its Parallel (one per branch) and Map (one) states."""

    states: dict[str, Mapping[str, Any]]
    edges: list[GraphEdge]
    nested: dict[str, list[MachineGraph]] = field(default_factory=dict)


def _cut(text: str, limit: int, ellipsis: str = "…") -> str:
    return text if len(text) <= limit else text[: limit - 1] + ellipsis


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)


def _resource_brief(resource: str) -> str:
    """A Task's resource without its ARN prefix: ``http:invoke`` for
    ``arn:aws:states:::http:invoke``, ``activity:Name`` for an activity's ARN."""
    if ":::" in resource:
        return resource.rsplit(":::", 1)[1]
    return ":".join(resource.split(":")[-2:])


def _rule_label(rule: Mapping[str, Any]) -> str:
    """A Choice rule in brief: its JSONata condition, or variable, operator and value."""
    if "Condition" in rule:
        return str(rule["Condition"]).removeprefix("{%").removesuffix("%}").strip()
    for key, value in rule.items():
        if key in ("And", "Or") and isinstance(value, list):
            return f"{key} of {len(value)}"
        if key == "Not" and isinstance(value, Mapping):
            return "Not " + _rule_label(value)
        if key not in ("Variable", "Next", "Comment", "Assign", "Output"):
            return f"{rule.get('Variable', '')} {key} {_json(value)}".strip()
    return ""


def _edges_of(name: str, state: Mapping[str, Any]) -> list[GraphEdge]:
    edges: list[GraphEdge] = []
    kind = state.get("Type")
    choices = state.get("Choices") if kind == "Choice" else None
    for rule in choices if isinstance(choices, list) else ():
        if isinstance(rule, Mapping) and isinstance(rule.get("Next"), str):
            edges.append(GraphEdge(name, rule["Next"], _rule_label(rule)))
    if kind == "Choice" and isinstance(state.get("Default"), str):
        edges.append(GraphEdge(name, state["Default"], "Default"))
    if isinstance(state.get("Next"), str) and kind != "Choice":
        edges.append(GraphEdge(name, state["Next"]))
    if state.get("End") is True or kind in ("Succeed", "Fail"):
        edges.append(GraphEdge(name, END))
    catchers = state.get("Catch")
    for catcher in catchers if isinstance(catchers, list) else ():
        if isinstance(catcher, Mapping) and isinstance(catcher.get("Next"), str):
            errors = catcher.get("ErrorEquals")
            listed = ",".join(map(str, errors)) if isinstance(errors, list) else "?"
            edges.append(GraphEdge(name, catcher["Next"], f"Catch {listed}"))
    return edges


def machine_graph(definition: Mapping[str, Any]) -> MachineGraph:
    """The graph of ``definition`` (a parsed object with ``StartAt`` and ``States``), drawn
    as written: an invalid definition still gives a graph, a missing target a vertex."""
    raw_states = definition.get("States")
    states = {str(k): v for k, v in raw_states.items() if isinstance(v, Mapping)} \
        if isinstance(raw_states, Mapping) else {}
    start_at = definition.get("StartAt")
    edges = [GraphEdge(START, start_at)] if isinstance(start_at, str) and start_at else []
    nested: dict[str, list[MachineGraph]] = {}
    for name, state in states.items():
        edges.extend(_edges_of(name, state))
        if state.get("Type") == "Parallel" and isinstance(state.get("Branches"), list):
            nested[name] = [machine_graph(b) for b in state["Branches"] if isinstance(b, Mapping)]
        processor = state.get("ItemProcessor", state.get("Iterator"))
        if state.get("Type") == "Map" and isinstance(processor, Mapping):
            nested[name] = [machine_graph(processor)]
    merged: dict[tuple[str, str], list[str]] = {}
    for edge in edges:
        merged.setdefault((edge.source, edge.target), []).append(edge.label)
    return MachineGraph(
        states, [GraphEdge(s, t, ", ".join(x for x in labels if x))
                 for (s, t), labels in merged.items()], nested)


def _back_edges(keys: list[str], edges: list[GraphEdge]) -> set[GraphEdge]:
    """The edges that close a loop (to a state on the current path, itself included), found
    depth first from Start, then from any state Start does not reach, in definition order.
    They are listed in their state's box instead of drawn, so every drawn edge runs down."""
    following: dict[str, list[GraphEdge]] = {}
    for edge in edges:
        following.setdefault(edge.source, []).append(edge)
    back: set[GraphEdge] = set()
    on_path: set[str] = set()
    done: set[str] = set()
    for root in keys:
        if root in done:
            continue
        on_path.add(root)
        stack = [(root, iter(following.get(root, ())))]
        while stack:
            node, rest = stack[-1]
            step = next(rest, None)
            if step is None:
                stack.pop()
                on_path.discard(node)
                done.add(node)
            elif step.target in on_path:
                back.add(step)
            elif step.target not in done:
                on_path.add(step.target)
                stack.append((step.target, iter(following.get(step.target, ()))))
    return back


def _mark(statuses: Statuses | None, name: str) -> StateMark | None:
    value = statuses.get(name) if statuses is not None else None
    return StateMark(Status(value)) if isinstance(value, str) else value


class _Painter:
    """Turns one machine level into blocks and draws it; nested levels recurse."""

    def __init__(self, charset: Charset, statuses: Statuses | None) -> None:
        self.charset, self.statuses = charset, statuses
        self.ascii = charset is ASCII

    def _title(self, name: str) -> tuple[str, str | None]:
        """The first line of a state's box and its style."""
        shown = _cut(name, _NAME_LIMIT, self.charset.ellipsis)
        if self.statuses is None:
            return shown, None
        mark = _mark(self.statuses, name)
        status = mark.status if mark is not None else None
        return f"{_SYMBOLS[status][self.ascii]} {shown}", _STYLES[status]

    def _subtitle(self, state: Mapping[str, Any], name: str) -> str:
        kind = str(state.get("Type", "?"))
        parts = [kind]
        resource = state.get("Resource")
        if kind == "Task" and isinstance(resource, str):
            parts.append(_resource_brief(resource))
        if kind == "Map":
            processor = state.get("ItemProcessor")
            config = processor.get("ProcessorConfig") if isinstance(processor, Mapping) else None
            mode = config.get("Mode", "INLINE") if isinstance(config, Mapping) else "INLINE"
            parts.append(str(mode).lower())
        mark = _mark(self.statuses, name)
        if mark is not None and mark.entered > 1:
            parts.append(f"x{mark.entered}" if self.ascii else f"×{mark.entered}")
        if mark is not None and mark.retries:
            parts.append(f"retried {mark.retries}" if self.ascii else f"↻{mark.retries}")
        return " · ".join(parts) if not self.ascii else " - ".join(parts)

    def _box(self, lines: list[str], style: str | None, body: Canvas | None = None,
             body_size: tuple[int, int] = (0, 0)) -> Block:
        body_h, body_w = body_size
        inner = max(max(len(line) for line in lines), body_w)
        height = len(lines) + 2 + (body_h + 1 if body is not None else 0)

        def paint(width: int) -> Canvas:
            canvas = Canvas(self.charset)
            canvas.box(0, 0, height, width, style, container=body is not None)
            for row, line in enumerate(lines, start=1):
                canvas.text(row, 2, line, style)
            if body is not None:
                canvas.blit(body, len(lines) + 2, 2)
            return canvas

        return Block(inner + 4, height, paint)

    def _terminal(self, text: str) -> Block:
        def paint(width: int) -> Canvas:
            canvas = Canvas(self.charset)
            canvas.text(0, (width - len(text)) // 2, text, "bold")
            return canvas

        return Block(len(text), 1, paint, bordered=False)

    def _state_block(self, graph: MachineGraph, name: str, loops: list[str]) -> Block:
        state = graph.states.get(name)
        title, style = self._title(name)
        if state is None:
            return self._box([title, "missing state"], "bold red")
        lines = [title, _cut(self._subtitle(state, name), _NAME_LIMIT + 2, self.charset.ellipsis)]
        lines += [("^ " if self.ascii else "↑ ") + label for label in loops]
        if name not in graph.nested:
            return self._box(lines, style)
        body = self._side_by_side([self.draw(sub) for sub in graph.nested[name]])
        height, width = body.size
        return self._box(lines, style, body, (height, width))

    def _side_by_side(self, parts: list[Canvas]) -> Canvas:
        """Parallel branches next to one another, split by a dotted rule."""
        canvas = Canvas(self.charset)
        height = max((part.size[0] for part in parts), default=1)
        left = 0
        for i, part in enumerate(parts):
            if i:
                for row in range(height):
                    canvas.put(row, left + 1, self.charset.container[5], "dim")
                left += 4
            canvas.blit(part, 0, left)
            left += part.size[1]
        return canvas

    def draw(self, graph: MachineGraph) -> Canvas:
        keys = [START, *graph.states]
        for edge in graph.edges:
            if edge.target not in keys and edge.target != END:
                keys.append(edge.target)
        if any(edge.target == END for edge in graph.edges):
            keys.append(END)
        index = {key: i for i, key in enumerate(keys)}
        loops: dict[str, list[str]] = {}
        links = []
        back = _back_edges(keys, graph.edges)
        for edge in graph.edges:
            if edge in back:
                label = f" ({edge.label})" if edge.label else ""
                loops.setdefault(edge.source, []).append(
                    _cut(f"{edge.target}{label}", _LABEL_LIMIT + 8, self.charset.ellipsis))
            else:
                links.append(Link(index[edge.source], index[edge.target],
                                  _cut(edge.label, _LABEL_LIMIT, self.charset.ellipsis)))
        blocks = [
            self._terminal("(Start)" if self.ascii else "● Start") if key == START
            else self._terminal("(End)" if self.ascii else "◉ End") if key == END
            else self._state_block(graph, key, loops.get(key, []))
            for key in keys
        ]
        return layered(blocks, links, 0, Canvas(self.charset))

    def legend(self) -> tuple[str, list[tuple[int, int, str]]]:
        parts, runs, col = [], [], 0
        for status, word in _LEGEND:
            text = f"{_SYMBOLS[status][self.ascii]} {word}"
            runs.append((col, col + len(text), _STYLES[status]))
            parts.append(text)
            col += len(text) + 2
        return "  ".join(parts), runs


def render_graph(
    definition: Mapping[str, Any],
    statuses: Statuses | None = None,
    *,
    ascii: bool = False,
    max_width: int | None = None,
) -> Drawing:
    """``definition`` drawn top to bottom; with ``statuses`` ({state name: status or mark})
    each state shows its status and a legend follows. ``ascii`` draws with ASCII only. Wider
    than ``max_width`` columns, the machine is listed as an outline instead."""
    painter = _Painter(ASCII if ascii else UNICODE, statuses)
    graph = machine_graph(definition)
    drawing = painter.draw(graph).drawing()
    if max_width is not None and drawing.width > max_width:
        drawing = _outline(painter, graph)
    if statuses is None:
        return drawing
    legend, runs = painter.legend()
    row = len(drawing.lines) + 1
    return Drawing([*drawing.lines, "", legend],
                   [*drawing.styles, *(StyleRun(row, a, b, s) for a, b, s in runs)])


def _outline(painter: _Painter, graph: MachineGraph) -> Drawing:
    """Each state on a line, each of its edges on a line beneath; nested graphs indented."""
    lines: list[str] = []
    styles: list[StyleRun] = []
    arrow = "->" if painter.ascii else "→"

    def walk(level: MachineGraph, indent: str) -> None:
        for name, state in level.states.items():
            title, style = painter._title(name)
            if style is not None:
                styles.append(StyleRun(len(lines), len(indent), len(indent) + len(title), style))
            lines.append(f"{indent}{title}  {painter._subtitle(state, name)}")
            for edge in level.edges:
                if edge.source == name:
                    target = "End" if edge.target == END else edge.target
                    lines.append(f"{indent}    {edge.label + ' ' if edge.label else ''}"
                                 f"{arrow} {target}")
            for number, sub in enumerate(level.nested.get(name, ()), start=1):
                parallel = state.get("Type") == "Parallel"
                lines.append(f"{indent}    [branch {number}]" if parallel
                             else f"{indent}    [item processor]")
                walk(sub, indent + "      ")

    walk(graph, "")
    return Drawing(lines, styles)
