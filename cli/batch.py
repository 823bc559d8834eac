"""Commands that take several objects (`service rm a b`, `node rm x y`) and act on each."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from cli import output
from common.errors import ShoalError, Unavailable

T = TypeVar("T")


def each(items: Iterable[T], action: Callable[[T], None]) -> int:
    """Like docker: an item that fails is reported and the rest still run; the exit code says
    whether any failed."""
    status = 0
    for item in items:
        try:
            action(item)
        except Unavailable:
            raise  # every remaining item would fail the same way
        except ShoalError as exc:
            output.error(exc)
            status = 1
    return status
