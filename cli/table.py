"""Docker-style tables: an upper-case header, each column as wide as its widest cell plus 3."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

GAP = 3


def render(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """The table as lines, without a final newline; trailing blanks are dropped from each line."""
    lines = [[title.upper() for title in header], *rows]
    widths = [max(map(len, column)) for column in zip(*lines, strict=True)]
    return "\n".join(
        "".join(cell.ljust(width + GAP) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
