"""Task logs: client subscriptions fanned out to the nodes that hold the containers, and the
lines the nodes publish fanned back in (the shape of swarmkit's log broker)."""

from manager.logbroker.broker import LogBroker

__all__ = ["LogBroker"]
