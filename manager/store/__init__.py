"""The state store: versioned objects, atomic multi-object commits, and watch events."""

from manager.store.base import Action, Delete, Event, Op, Put, ReadView, StateStore, Watch
from manager.store.etcd import EtcdStore
from manager.store.sqlite import SqliteStore

__all__ = [
    "Action",
    "Delete",
    "EtcdStore",
    "Event",
    "Op",
    "Put",
    "ReadView",
    "SqliteStore",
    "StateStore",
    "Watch",
]
