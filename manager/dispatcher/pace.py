"""What sessions are told of the cluster's size: the heartbeat period, and the window over which
nodes spread their reconnects. Both grow with the cluster, and each change is a message to every
node, so a growing cluster is told again a few times, not at each join."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Heartbeats a second the manager asks of the whole cluster at most: past that the period it
# hands out grows with the number of nodes (as Nomad caps heartbeats), up to MAX_PERIOD, which
# still finds a lost node within 10 s (3 missed beats).
MAX_BEATS_PER_SECOND = 1000
MAX_PERIOD = 3.0
# The rate of new sessions the reconnect window is sized for (as Consul scales its agents'
# intervals with the cluster): 10,000 nodes that lost their manager at once come back over
# 20 s, where all in the same instant kept a restarted manager from reading any of them.
SESSIONS_PER_SECOND = 500
# Windows shorter than this are not told again as the cluster grows: a small cluster's nodes
# coming back in the same second is no storm.
SHORTEST_RETOLD_WINDOW = 1.0


@dataclass(frozen=True)
class Pace:
    period: float
    # Seconds a node that cannot reach its manager spreads its retries over (from half of it).
    reconnect_within: float


def period_for(base: float, nodes: int) -> float:
    """The heartbeat period for a cluster of so many nodes: base up to MAX_BEATS_PER_SECOND
    beats a second, longer past that, never longer than MAX_PERIOD unless base is."""
    return max(base, min(nodes / MAX_BEATS_PER_SECOND, MAX_PERIOD))


def pace_for(base: float, nodes: int) -> Pace:
    return Pace(period_for(base, nodes), nodes / SESSIONS_PER_SECOND)


def moved(told: Pace, wanted: Pace, base: float) -> bool:
    """Whether the pace for the cluster moved far enough from the one sessions were told to be
    told again: the period by a quarter, or onto its floor or ceiling; the window by half or
    double, once it is a second or more."""
    return _period_moved(told.period, wanted.period, base) or _window(
        told.reconnect_within
    ) != _window(wanted.reconnect_within)


def _period_moved(told: float, wanted: float, base: float) -> bool:
    if wanted == told:
        return False
    return abs(wanted - told) >= told / 4 or wanted in (base, MAX_PERIOD)


def _window(seconds: float) -> int:
    """The window's power of two, and 0 for any below the shortest retold."""
    if seconds < SHORTEST_RETOLD_WINDOW:
        return 0
    return 1 + math.floor(math.log2(seconds / SHORTEST_RETOLD_WINDOW))
