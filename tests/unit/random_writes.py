"""Random writes to a store, as the tests of what is kept from its events make them."""

from __future__ import annotations

from dataclasses import replace
from random import Random

from common.model import (
    Meta,
    Node,
    PortConfig,
    PublishMode,
    Resources,
    Task,
    TaskState,
    TaskStatus,
)
from manager.store import Delete, Op, Put, StateStore
from tests.unit.builders import node, task

NODE_IDS = ("n1", "n2", "n3", "n4")
STATES = (
    TaskState.NEW,
    TaskState.PENDING,
    TaskState.ASSIGNED,
    TaskState.RUNNING,
    TaskState.FAILED,
    TaskState.SHUTDOWN,
)


def random_task(rng: Random, number: int) -> Task:
    made = task(
        f"t{number}",
        number,
        service_id=rng.choice(("s1", "s2")),
        node_id=rng.choice(NODE_IDS),
        state=rng.choice(STATES),
    )
    ports = (PortConfig(target=80, published=rng.choice((0, 8080)), mode=PublishMode.HOST),)
    cpus = rng.choice((0, 10**9))
    return replace(made, meta=Meta(), ports=ports, reservations=Resources(nano_cpus=cpus))


def random_write(rng: Random, store: StateStore, number: int) -> list[Op]:
    """One random write: nodes come and go and change, tasks are made, move through their
    states and between nodes, are wanted stopped and are deleted."""
    tasks = store.objects(Task)
    nodes = store.objects(Node)
    roll = rng.random()
    if roll < 0.15:
        new = node(rng.choice(NODE_IDS))
        stored = store.get(Node, new.id)
        if stored is not None and rng.random() < 0.4:
            return [Delete(stored)]
        labelled = replace(new, labels={"zone": rng.choice("ab")})
        return [Put(replace(labelled, meta=stored.meta if stored else Meta()))]
    if roll < 0.5 or not tasks:
        return [Put(random_task(rng, number + i)) for i in range(rng.randint(1, 3))]
    picked = rng.choice(tasks)
    if roll < 0.6:
        return [Delete(picked)]
    if roll < 0.7 and nodes:
        return [Put(replace(picked, node_id=rng.choice(nodes).id))]
    if roll < 0.8:
        return [Put(replace(picked, desired_state=TaskState.SHUTDOWN))]
    return [Put(replace(picked, status=TaskStatus(state=rng.choice(STATES))))]
