"""Several managers on one etcd prefix: one leads (an etcd lease, its writes fenced), the others
follow; the managers' view (ManagerSet) that the rest of the manager reads."""

from manager.leadership.election import DEFAULT_LEASE, Election
from manager.leadership.keys import Keys, Leader
from manager.leadership.managers import ManagerSet
from manager.leadership.watch import follow_leases

__all__ = ["DEFAULT_LEASE", "Election", "Keys", "Leader", "ManagerSet", "follow_leases"]
