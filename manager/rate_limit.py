"""Token buckets per peer address: a steady rate with a burst, in bounded memory."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_PEERS = 4096


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class PeerRateLimit:
    """Each peer may make `burst` calls at once and `rate` calls a second after that.

    Buckets are kept least recently used first. Past max_peers the least recent one is
    dropped: a peer seen again starts with a full bucket, which is all a dropped bucket could
    have refilled to unless more than max_peers peers are calling at once.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        max_peers: int = MAX_PEERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._max_peers = max_peers
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def allow(self, peer: str) -> bool:
        """Take one call from peer's bucket; False when it is empty."""
        now = self._clock()
        bucket = self._buckets.pop(peer, None) or _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.stamp) * self._rate)
        bucket.stamp = now
        allowed = bucket.tokens >= 1
        if allowed:
            bucket.tokens -= 1
        self._buckets[peer] = bucket
        while len(self._buckets) > self._max_peers:
            self._buckets.popitem(last=False)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)
