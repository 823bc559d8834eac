"""The daemons' limit on open files: each node's session is a connection (and at 5,000 hollow
nodes reconnecting at once, bench.scale saw the manager hold 20,000 sockets)."""

from __future__ import annotations

import resource


def raise_to_hard_limit() -> int:
    """Raise the soft limit on open files to the hard one, as Go's runtime does for dockerd and
    swarmkit: a manager left at a soft limit of 1,024 could not hold a thousand sessions.
    Returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard
