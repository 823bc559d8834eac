"""A SQLite store's disk writes held by a test until it releases each, and failed on demand."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from manager.store import SqliteStore

DEADLINE = 5.0


class HeldDisk:
    """The store's disk writes, each held until released, and made to fail on demand."""

    def __init__(self, store: SqliteStore) -> None:
        self._write: Callable[..., None] = store._write
        self.entered = threading.Semaphore(0)
        self.release = threading.Semaphore(0)
        self.fail = False
        # Objects per disk transaction, in order.
        self.saved: list[int] = []
        store._write = self._held  # type: ignore[method-assign]

    def _held(self, rows: list[Any], revision: int) -> None:
        self.entered.release()
        if not self.release.acquire(timeout=DEADLINE):
            raise AssertionError("the test never released the disk write")
        if self.fail:
            raise sqlite3.OperationalError("database or disk is full")
        self._write(rows, revision)
        self.saved.append(len(rows))

    async def in_write(self) -> None:
        """Until the disk thread has taken a write."""
        assert await asyncio.to_thread(self.entered.acquire, True, DEADLINE)
