"""A token bucket per source address: each source may ask `rate` queries a second on average and
`burst` at once. The table of sources is bounded (least recently seen forgotten first), so
queries from ever new (spoofed) addresses cost memory no more than queries from one. Pure."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

MAX_SOURCES = 4096


class PerSource:
    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._max = max_sources
        # source -> (tokens left, when they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, source: str) -> bool:
        """Take a token from source's bucket; False when it has none."""
        now = self._clock()
        tokens, then = self._buckets.pop(source, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        allowed = tokens >= 1.0
        self._buckets[source] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._max:
            # A forgotten source comes back with a full bucket: lenient, never wrong for it.
            self._buckets.popitem(last=False)
        return allowed
