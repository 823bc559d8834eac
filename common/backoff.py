"""Retry delays: doubling from a first step to a cap, with jitter so agents don't stampede."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, first: float = 0.1, cap: float = 2.0) -> None:
        self._first = first
        # Raised by an agent in a large cluster: its retries spread over a longer window.
        self.cap = cap
        self._next = first

    def reset(self) -> None:
        self._next = self._first

    def next_delay(self) -> float:
        delay = min(self._next, self.cap)
        self._next = min(self.cap, self._next * 2)
        # Full jitter on the upper half keeps the mean close to the nominal step.
        return random.uniform(delay / 2, delay)
