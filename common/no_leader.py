"""What a manager answers a call it cannot serve because no manager leads the cluster.

A manager refuses such a call before doing any of it, so a client may send it again, a write
included, to the same manager or another, once a leader is elected: the words below are how
the client tells this refusal from a manager it could not reach.
"""

from __future__ import annotations

NO_LEADER = "no manager leads the cluster right now"
# The manager's refusal, as gRPC's details of an UNAVAILABLE status.
REFUSAL = f"{NO_LEADER} (an election is under way): try again"


def says_no_leader(details: str) -> bool:
    return NO_LEADER in details
