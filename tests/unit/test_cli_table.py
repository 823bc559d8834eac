"""cli.table: docker-style column layout."""

from __future__ import annotations

import pytest

from cli.table import render


def test_columns_are_as_wide_as_their_widest_cell_plus_three_spaces() -> None:
    """Each column starts 3 spaces after the widest cell of the column before it."""
    text = render(("id", "name", "image"), [("abc", "web", "nginx"), ("abcdef", "x", "redis")])
    assert text.splitlines() == [
        "ID       NAME   IMAGE",
        "abc      web    nginx",
        "abcdef   x      redis",
    ]


def test_header_is_upper_case() -> None:
    """Header titles are printed upper case whatever case they were given in."""
    assert render(("Current State",), []) == "CURRENT STATE"


def test_trailing_blanks_are_dropped() -> None:
    """An empty last column leaves no trailing spaces on any line."""
    text = render(("ID", "PORTS"), [("a", "")])
    assert text.splitlines() == ["ID   PORTS", "a"]


def test_empty_table_is_the_header_alone() -> None:
    """With no rows, only the header line is printed, as docker does."""
    assert render(("ID", "NAME"), []) == "ID   NAME"


def test_row_with_a_wrong_number_of_cells_is_refused() -> None:
    """A row that does not match the header is a programming error, not a misaligned table."""
    with pytest.raises(ValueError, match="argument 2 is shorter"):
        render(("ID", "NAME"), [("a",)])
