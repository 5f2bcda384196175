"""Layered (Sugiyama) drawing of a directed graph on a character canvas (pure).

grandalf ranks the vertices into layers from the root (the graph must have no cycles), puts
dummy vertices on edges that span several layers and orders each layer to cut crossings; its
x coordinates are then snapped to columns. Edges are routed orthogonally in the gap below each
layer, each edge that changes column there on a row of its own, so no two edges share a
horizontal run. Every box is an odd number of columns wide so a chain of states lines up on one
centre column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from grandalf.graphs import Edge, Graph, Vertex  # type: ignore[import-untyped]
from grandalf.layouts import DummyVertex, SugiyamaLayout  # type: ignore[import-untyped]

from eventbus.workflows.graph_canvas import Canvas

__all__ = ["Block", "Link", "layered"]

_COLUMN_GAP = 3  # between two boxes of one layer
_COMPONENT_GAP = 4


@dataclass(slots=True)
class Block:
    """A vertex to draw: ``paint(width)`` draws it at least ``min_width`` wide and exactly
    ``height`` high; ``bordered`` says its last row is a border an edge may leave through."""

    min_width: int
    height: int
    paint: Callable[[int], Canvas]
    bordered: bool = True


@dataclass(frozen=True, slots=True)
class Link:
    source: int
    target: int
    label: str = ""


class _View:
    """grandalf's per-vertex geometry."""

    def __init__(self, w: int, h: int) -> None:
        self.w, self.h = w, h
        self.xy: tuple[float, float] = (0.0, 0.0)


@dataclass(slots=True)
class _Placed:
    """A vertex (real or dummy) placed on the canvas."""

    top: int = 0
    left: int = 0
    width: int = 1
    height: int = 1
    block: Block | None = None  # None for a dummy
    outs: list[tuple[int, int]] = field(default_factory=list)  # (edge, next vertex key)
    ins: list[tuple[int, int]] = field(default_factory=list)  # (edge, previous vertex key)
    out_port: dict[int, int] = field(default_factory=dict)  # edge -> column
    in_port: dict[int, int] = field(default_factory=dict)

    @property
    def centre(self) -> int:
        return self.left + self.width // 2


def _odd(n: int) -> int:
    return n if n % 2 else n + 1


def _widths(blocks: list[Block], links: list[Link]) -> list[int]:
    """Each box wide enough for its own text, one port per incoming edge and, when several
    edges leave it, their labels side by side under it."""
    labels: list[list[str]] = [[] for _ in blocks]
    incoming = [0] * len(blocks)
    for link in links:
        labels[link.source].append(link.label)
        incoming[link.target] += 1
    widths = []
    for block, out, n_in in zip(blocks, labels, incoming, strict=True):
        spread = 2 + sum(len(label) + 3 for label in out) if len(out) > 1 else 0
        widths.append(_odd(max(block.min_width, spread, 2 * n_in + 1)))
    return widths


def layered(blocks: list[Block], links: list[Link], root: int, canvas: Canvas) -> Canvas:
    """Draw ``blocks`` joined by ``links`` (no cycles) onto ``canvas``, ``root`` at the top;
    graphs in several pieces are drawn side by side."""
    widths = _widths(blocks, links)
    vertices = [Vertex(i) for i in range(len(blocks))]
    for vertex, block, width in zip(vertices, blocks, widths, strict=True):
        vertex.view = _View(width, block.height)
    edges = [Edge(vertices[link.source], vertices[link.target], data=i)
             for i, link in enumerate(links)]
    graph = Graph(vertices, edges)
    left = 0
    for component in sorted(graph.C, key=lambda c: min(v.data for v in c.sV)):
        layers, chains = _layout_component(component, root)
        right = _draw_component(layers, chains, blocks, widths, links, left, canvas)
        left = right + _COMPONENT_GAP
    return canvas


def _layout_component(component: Any, root: int) -> tuple[list[list[Any]], dict[int, list[Any]]]:
    """The component's layers (vertices in drawing order, dummies included) and each edge's
    chain of vertices from its upper end to its lower end."""
    members = sorted(component.sV, key=lambda v: v.data)
    roots = [v for v in members if v.data == root] or \
        [v for v in members if not v.e_in()] or members[:1]
    sugiyama = SugiyamaLayout(component)
    sugiyama.xspace, sugiyama.yspace = _COLUMN_GAP, 1
    sugiyama.dw, sugiyama.dh = 1, 1
    sugiyama.init_all(roots=roots)
    sugiyama.draw(2)
    chains: dict[int, list[Any]] = {}
    for edge in component.sE:
        a, b = edge.v
        control = sugiyama.ctrls.get(edge)
        chains[edge.data] = [a, b] if control is None else \
            [control[r] for r in range(sugiyama.grx[a].rank, sugiyama.grx[b].rank + 1)]
    return [list(layer) for layer in sugiyama.layers], chains


def _tracks(segments: list[tuple[int, int, int]]) -> dict[int, int]:
    """A row for each (edge, top column, bottom column) that changes column. Rows are packed
    left to right so no two horizontal runs in one row touch; where one edge leaves from the
    column another arrives at, the leaving one must turn first or the two would share a
    line, and when packing breaks that, each edge gets a row of its own, in such an order."""
    ordered = sorted(segments, key=lambda s: (min(s[1], s[2]), max(s[1], s[2]), s[0]))
    ends: list[int] = []
    rows: dict[int, int] = {}
    for edge, a, b in ordered:
        low, high = min(a, b), max(a, b)
        row = next((r for r, end in enumerate(ends) if end + 1 < low), len(ends))
        ends[row:row + 1] = [high]
        rows[edge] = row
    before = [(x[0], y[0]) for x in segments for y in segments if x is not y and x[1] == y[2]]
    if all(rows[first] < rows[then] for first, then in before):
        return rows
    return {edge: row for row, edge in enumerate(_first_to_turn(ordered, before))}


def _first_to_turn(ordered: list[tuple[int, int, int]], before: list[tuple[int, int]]) -> list[int]:
    """The edges in ``ordered`` with each ``(first, then)`` pair in that order where the pairs
    allow (a cycle of them cannot be met and is broken at its leftmost edge)."""
    waiting = {edge: 0 for edge, _, _ in ordered}
    for _, then in before:
        waiting[then] += 1
    result: list[int] = []
    remaining = [edge for edge, _, _ in ordered]
    while remaining:
        edge = next((e for e in remaining if waiting[e] == 0), remaining[0])
        remaining.remove(edge)
        result.append(edge)
        for first, then in before:
            if first == edge:
                waiting[then] -= 1
    return result


def _spread_ports(node: _Placed, links: list[Link], placed: dict[int, _Placed]) -> None:
    """Ports in the order of the vertices at the other end, so edges leave and enter without
    crossing; several leaving edges sit one label apart."""
    outs = sorted(node.outs, key=lambda e: (placed[e[1]].centre, e[0]))
    ins = sorted(node.ins, key=lambda e: (placed[e[1]].centre, e[0]))
    if node.block is None or len(outs) == 1:
        node.out_port = {edge: node.centre for edge, _ in outs}
    else:
        col = node.left + 2
        for edge, _ in outs:
            node.out_port[edge] = col
            col += len(links[edge].label) + 3
    if node.block is None or len(ins) == 1:
        node.in_port = {edge: node.centre for edge, _ in ins}
    else:
        step = (node.width - 3) / max(len(ins) - 1, 1)
        node.in_port = {edge: node.left + 1 + round(j * step) for j, (edge, _) in enumerate(ins)}


def _place(
    layers: list[list[Any]], chains: dict[int, list[Any]], blocks: list[Block],
    widths: list[int], links: list[Link], origin: int,
) -> dict[int, _Placed]:
    """Each vertex's columns (grandalf's centres, pushed apart where boxes would touch), the
    edges at each end and their ports; keyed by ``id`` of the vertex."""
    placed: dict[int, _Placed] = {}
    for layer in layers:
        previous_end: int | None = None
        for vertex in layer:
            block = None if isinstance(vertex, DummyVertex) else blocks[vertex.data]
            width = 1 if block is None else widths[vertex.data]
            left = round(vertex.view.xy[0]) - width // 2
            if previous_end is not None:
                left = max(left, previous_end + _COLUMN_GAP)
            placed[id(vertex)] = _Placed(left=left, width=width, block=block,
                                         height=1 if block is None else block.height)
            previous_end = left + width
    shift = origin - min(node.left for node in placed.values())
    for node in placed.values():
        node.left += shift
    for edge, chain in sorted(chains.items()):
        for upper, lower in pairwise(chain):
            placed[id(upper)].outs.append((edge, id(lower)))
            placed[id(lower)].ins.append((edge, id(upper)))
    for node in placed.values():
        _spread_ports(node, links, placed)
    return placed


def _draw_component(
    layers: list[list[Any]], chains: dict[int, list[Any]], blocks: list[Block],
    widths: list[int], links: list[Link], origin: int, canvas: Canvas,
) -> int:
    """Place, route and draw one component with its left edge at column ``origin``; returns
    the column just past its right edge."""
    placed = _place(layers, chains, blocks, widths, links, origin)
    top = 0
    for layer in layers:
        nodes = [placed[id(v)] for v in layer]
        height = max(node.height if node.block else 1 for node in nodes)
        segments = [(edge, node.out_port[edge], placed[below].in_port[edge])
                    for node in nodes for edge, below in node.outs]
        rows = _tracks([s for s in segments if s[1] != s[2]])
        gap_top, next_top = top + height, top + height + max(rows.values(), default=-1) + 3
        for node in nodes:
            node.top = top
            if node.block is None:
                node.height = height
                canvas.vertical(node.centre, top, top + height - 1)
            else:
                canvas.blit(node.block.paint(node.width), top, node.left)
        for node in nodes:
            for edge, below in node.outs:
                track = gap_top + 1 + rows.get(edge, 0)
                _draw_segment(canvas, node, placed[below], edge, track, next_top - 1)
        top = next_top
    for node in placed.values():
        _draw_labels(canvas, node, links)
    return max(node.left + node.width for node in placed.values())


def _draw_segment(canvas: Canvas, upper: _Placed, lower: _Placed, edge: int, track: int,
                  last: int) -> None:
    """The part of an edge between two layers: down from ``upper``, along its own ``track``
    row when it changes column, down to the row above ``lower`` (``last``)."""
    start, end = upper.out_port[edge], lower.in_port[edge]
    exit_row = upper.top + upper.height
    if start == end:
        canvas.vertical(start, exit_row, last)
    else:
        canvas.vertical(start, exit_row, track)
        canvas.horizontal(track, min(start, end), max(start, end))
        canvas.vertical(end, track, last)
    if upper.block is not None and upper.block.bordered:
        canvas.put(exit_row - 1, start, canvas.charset.tee_down)
    if lower.block is not None:
        canvas.put(last, end, canvas.charset.arrow_down)


def _draw_labels(canvas: Canvas, node: _Placed, links: list[Link]) -> None:
    """Each edge's label beside the line where it leaves its upper end, in free cells only
    (cut short rather than written over anything)."""
    if node.block is None:
        return
    row = node.top + node.height
    for edge, _ in node.outs:
        label = links[edge].label
        if not label:
            continue
        col = node.out_port[edge] + 2
        for i, char in enumerate(label):
            if not canvas.free(row, col + i) or not canvas.free(row, col + i + 1):
                break
            canvas.put(row, col + i, char)
