"""Retry delays: doubling from a first step to a cap, with jitter so agents don't stampede."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, first: float = 0.1, cap: float = 2.0) -> None:
        self._base = (first, cap)
        self._first = first
        self._cap = cap
        self._next = first

    def widen(self, window: float) -> None:
        """Retries spread over window at least: from half of it, up to all of it. An agent of
        a large cluster is given one, so that its nodes retrying together against a manager
        on its way back do not try ten times a second between them per node."""
        first, cap = self._base
        self._first = max(first, window / 2)
        self._cap = max(cap, window)
        self._next = min(max(self._next, self._first), self._cap)

    def reset(self) -> None:
        self._next = self._first

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._cap, self._next * 2)
        # Full jitter on the upper half keeps the mean close to the nominal step.
        return random.uniform(delay / 2, delay)
