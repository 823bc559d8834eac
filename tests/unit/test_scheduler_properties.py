"""manager.scheduler on random clusters: what must hold whatever the nodes, services and tasks.

The clusters are described here as plain data and judged here without the scheduler's filters,
so a filter that went wrong cannot vouch for itself. One test compares the scheduler with a
straightforward reference (every task against every node) written below.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from common.constraints import parse
from common.model import (
    Availability,
    Node,
    NodeDescription,
    NodeRole,
    NodeState,
    Resources,
    Task,
    TaskState,
)
from manager.scheduler import (
    NODE_NOT_IN_CLUSTER,
    Demand,
    NodeInfo,
    Schedule,
    filters_for,
    schedule,
    unplaceable_reason,
)
from tests.unit.builders import task

# Modest and derandomized: a few seconds, and the same examples on every run and in CI.
PROPERTIES = settings(max_examples=200, deadline=None, derandomize=True, database=None)

SERVICES = ("s0", "s1", "s2", "s3")
ZONES = ("a", "b", "c")
RACKS = ("r1", "r2")


@dataclass(frozen=True)
class NodeSpec:
    id: str
    state: NodeState = NodeState.READY
    availability: Availability = Availability.ACTIVE
    role: NodeRole = NodeRole.WORKER
    zone: str | None = None
    rack: str | None = None
    cpus: int = 0
    memory: int = 0
    load: dict[str, int] = field(default_factory=dict)
    reserved_cpus: int = 0
    reserved_memory: int = 0


# Each constraint as docker writes it, and what it means, judged on the plain description.
CONSTRAINTS: dict[str, Callable[[NodeSpec], bool]] = {
    "node.labels.zone==a": lambda n: n.zone == "a",
    "node.labels.zone!=b": lambda n: n.zone != "b",
    "node.labels.rack==r1": lambda n: n.rack == "r1",
    "node.role==manager": lambda n: n.role == NodeRole.MANAGER,
    "node.hostname!=host-n0": lambda n: n.id != "n0",
}


@dataclass(frozen=True)
class ServiceSpec:
    constraints: tuple[str, ...] = ()
    max_per_node: int = 0
    spread: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cluster:
    nodes: list[NodeSpec]
    services: dict[str, ServiceSpec]
    tasks: list[Task]

    def infos(self) -> list[NodeInfo]:
        """Fresh on each call: the reference adds what it places to the NodeInfos it is given."""
        return [_info(n) for n in self.nodes]

    def demands(self) -> dict[str, Demand]:
        return {
            sid: Demand(tuple(parse(c) for c in s.constraints), s.max_per_node, s.spread)
            for sid, s in self.services.items()
        }

    def node(self, node_id: str) -> NodeSpec:
        return next(n for n in self.nodes if n.id == node_id)


def _info(spec: NodeSpec) -> NodeInfo:
    labels = {k: v for k, v in (("zone", spec.zone), ("rack", spec.rack)) if v is not None}
    node = Node(
        id=spec.id,
        role=spec.role,
        state=spec.state,
        availability=spec.availability,
        labels=labels,
        description=NodeDescription(
            hostname=f"host-{spec.id}",
            resources=Resources(nano_cpus=spec.cpus, memory_bytes=spec.memory),
        ),
    )
    reserved = Resources(nano_cpus=spec.reserved_cpus, memory_bytes=spec.reserved_memory)
    return NodeInfo(node, Counter(spec.load), reserved)


# Drawing is what costs here, far more than scheduling: a node takes a few draws, each from a
# short list with the simplest choice first (where hypothesis shrinks to).
HEALTH = [(NodeState.READY, Availability.ACTIVE)] * 20 + list(product(NodeState, Availability))
LABELS = list(product((None, *ZONES), (None, *RACKS)))
# cpus, memory, then what the node's live tasks already reserve of each.
SIZES = list(product((0, 2, 5), (0, 3, 6), (0, 1), (0, 2)))
LOADS: list[dict[str, int]] = [
    {},
    {"s0": 1},
    {"other": 2},
    {"s0": 2, "s1": 1},
    {"s1": 1, "s2": 3, "other": 1},
    {"s3": 2},
    {"s0": 1, "s3": 1},
]
# Task reservations as (cpus, memory), none twice as likely.
WANTS = [(0, 0), (0, 0), (1, 0), (0, 2), (2, 3)]


def _node_spec(
    health: tuple[NodeState, Availability],
    role: NodeRole,
    labels: tuple[str | None, str | None],
    size: tuple[int, int, int, int],
    load: dict[str, int],
) -> NodeSpec:
    state, availability = health
    zone, rack = labels
    cpus, memory, reserved_cpus, reserved_memory = size
    return NodeSpec(
        id="",
        state=state,
        availability=availability,
        role=role,
        zone=zone,
        rack=rack,
        cpus=cpus,
        memory=memory,
        load=load,
        reserved_cpus=reserved_cpus,
        reserved_memory=reserved_memory,
    )


node_specs = st.builds(
    _node_spec,
    st.sampled_from(HEALTH),
    st.sampled_from(NodeRole),
    st.sampled_from(LABELS),
    st.sampled_from(SIZES),
    st.sampled_from(LOADS),
)
service_specs = st.builds(
    ServiceSpec,
    constraints=st.lists(st.sampled_from(sorted(CONSTRAINTS)), max_size=2, unique=True).map(tuple),
    max_per_node=st.integers(0, 3),
    spread=st.lists(st.sampled_from(("zone", "rack")), max_size=2, unique=True).map(tuple),
)


@st.composite
def clusters(draw: st.DrawFn) -> Cluster:
    # Sizes drawn first: left to itself hypothesis keeps lists very short.
    count = draw(st.integers(1, 8))
    specs = draw(st.lists(node_specs, min_size=count, max_size=count))
    nodes = [replace(n, id=f"n{i}") for i, n in enumerate(specs)]
    # In any order: the result must not depend on the order the nodes come in.
    nodes = draw(st.permutations(nodes))
    services = {sid: draw(service_specs) for sid in SERVICES[: draw(st.integers(1, 4))]}
    # Some tasks name their node, as a global service's do; "gone" is no node of the cluster.
    pins = [""] * 2 * (count + 1) + [f"n{i}" for i in range(count)] + ["gone"]
    shapes = st.sampled_from(list(product(sorted(services), WANTS, pins)))
    size = draw(st.integers(0, 30))
    tasks = [
        replace(
            task(f"t{i}", i, service_id=sid, node_id=pin, state=TaskState.PENDING),
            reservations=Resources(nano_cpus=cpus, memory_bytes=memory),
        )
        for i, (sid, (cpus, memory), pin) in enumerate(
            draw(st.lists(shapes, min_size=size, max_size=size))
        )
    ]
    return Cluster(nodes, services, tasks)


def reference(
    pending: Sequence[Task], nodes: Sequence[NodeInfo], demands: dict[str, Demand]
) -> Schedule:
    """Every task against every node (its own node only when it names one), the spread counts
    summed afresh each time: slow, and plainly what the scheduler promises."""
    placements: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for t in pending:
        demand = demands.get(t.service_id, Demand())
        filters = filters_for(demand)
        candidates = list(nodes)
        if t.node_id:
            candidates = [i for i in nodes if i.node.id == t.node_id]
            if not candidates:
                reasons[t.id] = NODE_NOT_IN_CLUSTER
                continue
        best: NodeInfo | None = None
        best_key: tuple[object, ...] | None = None
        excluded: Counter[int] = Counter()
        for info in candidates:
            failed = [i for i, f in enumerate(filters) if not f.check(t, info, demand)]
            if failed:
                excluded[failed[0]] += 1
                continue
            groups = tuple(
                sum(
                    other.tasks_by_service[t.service_id]
                    for other in nodes
                    if other.node.labels.get(key, "") == info.node.labels.get(key, "")
                )
                for key in demand.spread
            )
            own = info.tasks_by_service[t.service_id]
            key = (*groups, own, sum(info.tasks_by_service.values()), info.node.id)
            if best_key is None or key < best_key:
                best, best_key = info, key
        if best is None:
            reasons[t.id] = unplaceable_reason(excluded, filters, len(candidates))
            continue
        placements[t.id] = best.node.id
        best.take(t)
    return Schedule(placements, reasons)


class Replay:
    """What each node holds as a decision is replayed in task order, counted here."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.cpus = {n.id: n.reserved_cpus for n in cluster.nodes}
        self.memory = {n.id: n.reserved_memory for n in cluster.nodes}
        self.load = {n.id: Counter(n.load) for n in cluster.nodes}

    def fits(self, t: Task, node: NodeSpec) -> bool:
        service = self.cluster.services[t.service_id]
        want = t.reservations
        limit = service.max_per_node
        return (
            node.state == NodeState.READY
            and node.availability == Availability.ACTIVE
            and all(CONSTRAINTS[c](node) for c in service.constraints)
            and (want.nano_cpus == 0 or self.cpus[node.id] + want.nano_cpus <= node.cpus)
            and (want.memory_bytes == 0 or self.memory[node.id] + want.memory_bytes <= node.memory)
            and (limit == 0 or self.load[node.id][t.service_id] < limit)
            and t.node_id in ("", node.id)
        )

    def take(self, t: Task, node_id: str) -> None:
        self.cpus[node_id] += t.reservations.nano_cpus
        self.memory[node_id] += t.reservations.memory_bytes
        self.load[node_id][t.service_id] += 1


@PROPERTIES
@given(clusters())
def test_a_task_goes_where_it_fits_and_waits_only_when_nothing_fits(cluster: Cluster) -> None:
    """Replayed in order: each placed task's node is ready, active, meets the constraints, has
    room for the reservations and is under the per-node limit (its own node, for a pinned task);
    each task left pending had no such node at its turn."""
    decision = schedule(cluster.tasks, cluster.infos(), cluster.demands())
    replay = Replay(cluster)
    for t in cluster.tasks:
        node_id = decision.placements.get(t.id)
        if node_id is None:
            assert not any(replay.fits(t, n) for n in cluster.nodes), t
            continue
        assert replay.fits(t, cluster.node(node_id)), (t, node_id)
        replay.take(t, node_id)


@PROPERTIES
@given(clusters())
def test_every_task_is_placed_or_says_why_never_both(cluster: Cluster) -> None:
    """Placement writes one or the other for each task: a task with neither would be lost."""
    decision = schedule(cluster.tasks, cluster.infos(), cluster.demands())
    assert set(decision.placements) | set(decision.reasons) == {t.id for t in cluster.tasks}
    assert not set(decision.placements) & set(decision.reasons)
    assert all(r.startswith("no suitable node (") for r in decision.reasons.values())


@PROPERTIES
@given(clusters())
def test_same_decision_as_the_reference(cluster: Cluster) -> None:
    """Same placements and same reasons; the NodeInfos given are left as they were (the
    reference counts its placements on them)."""
    fast_infos, slow_infos = cluster.infos(), cluster.infos()
    fast = schedule(cluster.tasks, fast_infos, cluster.demands())
    slow = reference(cluster.tasks, slow_infos, cluster.demands())
    assert fast == slow
    assert fast_infos == cluster.infos()


@PROPERTIES
@given(st.integers(1, 20), st.integers(0, 100), st.randoms(use_true_random=False))
def test_with_nothing_in_the_way_a_service_spreads_within_one(
    node_count: int, task_count: int, rng: Random
) -> None:
    """Ready, active, empty nodes and no constraints, reservations, limits or spread: every task
    is placed and no node holds more than one task above another."""
    ids = [f"n{i}" for i in range(node_count)]
    rng.shuffle(ids)
    nodes = [NodeInfo(Node(id=i, state=NodeState.READY)) for i in ids]
    tasks = [task(f"t{i}", i) for i in range(task_count)]
    decision = schedule(tasks, nodes)
    assert len(decision.placements) == task_count
    per_node = Counter(decision.placements.values())
    counts = [per_node[i] for i in ids]
    assert max(counts) - min(counts) <= 1
