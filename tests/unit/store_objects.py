"""What the store's tests build and wait on: objects never stored, commits of them, and the
events a watch yields within a deadline."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TypeVar

from common.model import Cluster, Meta, Node, Service, StoredObject, Task
from manager.store import (
    Event,
    Put,
    StateStore,
    Watch,
)
from tests.unit.builders import node, service, task

DEADLINE = 2.0
Obj = TypeVar("Obj", Node, Service, Task, Cluster)


def fresh_task(task_id: str, slot: int = 1, node_id: str = "", service_id: str = "s1") -> Task:
    """A task never stored yet (version 0)."""
    return replace(task(task_id, slot, node_id=node_id, service_id=service_id), meta=Meta())


def fresh_node(node_id: str) -> Node:
    return node(node_id)


def fresh_service(service_id: str = "s1", replicas: int = 1) -> Service:
    return replace(service(replicas, service_id=service_id), meta=Meta())


async def put(store: StateStore, *objs: StoredObject) -> list[StoredObject]:
    return await store.commit([Put(o) for o in objs])


async def put_one(store: StateStore, obj: Obj) -> Obj:
    """Store one object; the object as stored, of the same type."""
    [stored] = await put(store, obj)
    assert isinstance(stored, type(obj))
    return stored


async def next_events(watch: Watch, count: int) -> list[Event]:
    """Collect count events from watch, failing if they do not arrive within DEADLINE."""
    events: list[Event] = []
    async with asyncio.timeout(DEADLINE):
        while len(events) < count:
            events.extend(await watch.next_batch())
    return events
