"""Agent sessions: join, heartbeats, assignments down, task status up."""

from manager.dispatcher.service import Dispatcher

__all__ = ["Dispatcher"]
