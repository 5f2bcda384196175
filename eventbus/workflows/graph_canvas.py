"""A character canvas for drawing graphs in a terminal (pure).

Lines are kept as direction masks per cell and turned into box-drawing characters (or ASCII)
only when the canvas is read, so crossing and joining lines become the right junction
whatever order they were drawn in. Each cell may carry a style name (a rich style such as
``green``) that the CLI turns into colour.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ASCII", "UNICODE", "Canvas", "Charset", "Drawing", "StyleRun"]

UP, DOWN, LEFT, RIGHT = 1, 2, 4, 8


@dataclass(frozen=True, slots=True)
class Charset:
    """The characters a drawing is made of: ``lines`` maps a direction mask to its glyph."""

    lines: dict[int, str]
    box: str  # corners then edges: top-left, top-right, bottom-left, bottom-right, -, |
    container: str  # the same six for Parallel and Map boxes
    tee_down: str  # a box's bottom border where an edge leaves
    arrow_down: str
    ellipsis: str


UNICODE = Charset(
    lines={
        UP: "│", DOWN: "│", UP | DOWN: "│", LEFT: "─", RIGHT: "─", LEFT | RIGHT: "─",
        DOWN | RIGHT: "┌", DOWN | LEFT: "┐", UP | RIGHT: "└", UP | LEFT: "┘",
        UP | DOWN | RIGHT: "├", UP | DOWN | LEFT: "┤", DOWN | LEFT | RIGHT: "┬",
        UP | LEFT | RIGHT: "┴", UP | DOWN | LEFT | RIGHT: "┼",
    },
    box="┌┐└┘─│",
    container="╭╮╰╯┄┆",
    tee_down="┬",
    arrow_down="▼",
    ellipsis="…",
)

ASCII = Charset(
    lines={mask: "+" for mask in range(1, 16)}
    | {UP: "|", DOWN: "|", UP | DOWN: "|", LEFT: "-", RIGHT: "-", LEFT | RIGHT: "-"},
    box="++++-|",
    container="++++.:",
    tee_down="+",
    arrow_down="v",
    ellipsis="~",
)


@dataclass(frozen=True, slots=True)
class StyleRun:
    """Columns ``start`` to ``end`` (exclusive) of line ``row`` are drawn in ``style``."""

    row: int
    start: int
    end: int
    style: str


@dataclass(frozen=True, slots=True)
class Drawing:
    """A finished picture: its lines (right-trimmed) and where they are coloured."""

    lines: list[str]
    styles: list[StyleRun]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def width(self) -> int:
        return max((len(line) for line in self.lines), default=0)


class Canvas:
    """A growable grid of characters, line masks and styles."""

    def __init__(self, charset: Charset) -> None:
        self.charset = charset
        self._chars: dict[tuple[int, int], str] = {}
        self._masks: dict[tuple[int, int], int] = {}
        self._styles: dict[tuple[int, int], str] = {}

    def put(self, row: int, col: int, char: str, style: str | None = None) -> None:
        self._chars[row, col] = char
        if style is not None:
            self._styles[row, col] = style

    def text(self, row: int, col: int, text: str, style: str | None = None) -> None:
        for i, char in enumerate(text):
            self.put(row, col + i, char, style)

    def free(self, row: int, col: int) -> bool:
        return (row, col) not in self._chars and (row, col) not in self._masks

    def line(self, row: int, col: int, mask: int) -> None:
        self._masks[row, col] = self._masks.get((row, col), 0) | mask

    def vertical(self, col: int, top: int, bottom: int) -> None:
        """A line from row ``top`` to row ``bottom`` (inclusive), joined at both ends."""
        for row in range(top, bottom + 1):
            self.line(row, col, (UP if row > top else 0) | (DOWN if row < bottom else 0))

    def horizontal(self, row: int, left: int, right: int) -> None:
        for col in range(left, right + 1):
            self.line(row, col, (LEFT if col > left else 0) | (RIGHT if col < right else 0))

    def box(self, top: int, left: int, height: int, width: int, style: str | None = None,
            *, container: bool = False) -> None:
        glyphs = self.charset.container if container else self.charset.box
        tl, tr, bl, br, h, v = tuple(glyphs)
        bottom, right = top + height - 1, left + width - 1
        for col in range(left + 1, right):
            self.put(top, col, h, style)
            self.put(bottom, col, h, style)
        for row in range(top + 1, bottom):
            self.put(row, left, v, style)
            self.put(row, right, v, style)
        for row, col, char in ((top, left, tl), (top, right, tr), (bottom, left, bl),
                               (bottom, right, br)):
            self.put(row, col, char, style)

    def blit(self, other: Canvas, top: int, left: int) -> None:
        """Copy ``other`` onto this canvas with its origin at (``top``, ``left``)."""
        for (row, col), char in other._chars.items():
            self._chars[top + row, left + col] = char
        for (row, col), mask in other._masks.items():
            self._masks[top + row, left + col] = mask
        for (row, col), style in other._styles.items():
            self._styles[top + row, left + col] = style

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) from the origin to the furthest cell used."""
        cells = self._chars.keys() | self._masks.keys()
        if not cells:
            return 0, 0
        return max(r for r, _ in cells) + 1, max(c for _, c in cells) + 1

    def drawing(self) -> Drawing:
        height, width = self.size
        rows = [[" "] * width for _ in range(height)]
        for (row, col), mask in self._masks.items():
            if mask:
                rows[row][col] = self.charset.lines[mask]
        for (row, col), char in self._chars.items():
            rows[row][col] = char
        styles: list[StyleRun] = []
        for (row, col), style in sorted(self._styles.items()):
            last = styles[-1] if styles else None
            if last is not None and (last.row, last.end, last.style) == (row, col, style):
                styles[-1] = StyleRun(row, last.start, col + 1, style)
            else:
                styles.append(StyleRun(row, col, col + 1, style))
        return Drawing(["".join(r).rstrip() for r in rows], styles)
