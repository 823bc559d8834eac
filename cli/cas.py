"""Compare-and-swap updates: read an object, change it, write it back with the version read."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from common.errors import Conflict

T = TypeVar("T")

ATTEMPTS = 3
"""Reads and writes an update makes when other clients keep writing the same object meanwhile."""


def update(read: Callable[[], T], write: Callable[[T], object]) -> None:
    """`write` what `read` returned, changed; when another client wrote the object in between
    (Conflict), read it again and retry, ATTEMPTS times in all before giving up."""
    for attempt in range(1, ATTEMPTS + 1):
        current = read()
        try:
            write(current)
        except Conflict:
            if attempt == ATTEMPTS:
                raise
        else:
            return
