"""How fast the scheduler places a large batch: N pending tasks of 100 services on 1,000 nodes.

Half the nodes are in zone a, half in zone b; a quarter of the services are constrained to zone a
(node.labels.zone==a) and a third reserve cpu and memory. The clock covers `schedule` alone, on
one core: building the nodes and tasks is outside it. Each size prints its wall and cpu time, the
placements per second, and how the time grew against the number of tasks: less than the tasks at
small sizes, since each service costs one pass over the nodes whatever its number of tasks.

Run: `make bench-scheduler` (BENCH_ARGS="--sizes 1000 10000" for fewer), or
.venv/bin/python -m bench.scheduler --sizes 1000 10000 100000 --nodes 1000
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass

from common.constraints import parse
from common.model import (
    ContainerSpec,
    Node,
    NodeDescription,
    NodeState,
    Resources,
    Task,
    TaskState,
    TaskStatus,
)
from manager.scheduler import Demand, NodeInfo, schedule

SERVICES = 100
GiB = 1 << 30
NODE_SIZE = Resources(nano_cpus=16 * 10**9, memory_bytes=64 * GiB)
RESERVATION = Resources(nano_cpus=10**8, memory_bytes=64 << 20)
SWARMKIT = "SwarmKit: 100,000 tasks on 1,000 nodes in 22.6 s (~4,400 placements/s)"
GOAL = 20_000


@dataclass(frozen=True)
class Run:
    tasks: int
    placed: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.placed / self.wall


def nodes(count: int) -> list[NodeInfo]:
    """Fresh each run, as the placement loop's are to each pass."""
    return [
        NodeInfo(
            Node(
                id=f"node-{i:05d}",
                state=NodeState.READY,
                labels={"zone": "a" if i % 2 == 0 else "b"},
                description=NodeDescription(hostname=f"host-{i:05d}", resources=NODE_SIZE),
            )
        )
        for i in range(count)
    ]


def demands() -> dict[str, Demand]:
    zone_a = (parse("node.labels.zone==a"),)
    return {f"svc-{s:03d}": Demand(constraints=zone_a) for s in range(0, SERVICES, 4)}


def pending(count: int) -> list[Task]:
    """Grouped by service, as placement orders a batch created at once."""
    tasks: list[Task] = []
    per_service, extra = divmod(count, SERVICES)
    for s in range(SERVICES):
        service_id = f"svc-{s:03d}"
        reservations = RESERVATION if s % 3 == 0 else Resources()
        spec = ContainerSpec(image="local/busybox:latest")
        for slot in range(1, per_service + (1 if s < extra else 0) + 1):
            tasks.append(
                Task(
                    id=f"{service_id}-{slot}",
                    service_id=service_id,
                    service_name=service_id,
                    slot=slot,
                    spec=spec,
                    status=TaskStatus(state=TaskState.PENDING),
                    reservations=reservations,
                )
            )
    return tasks


def run(tasks: int, node_count: int) -> Run:
    batch, infos, wanted = pending(tasks), nodes(node_count), demands()
    wall, cpu = time.perf_counter(), time.process_time()
    decision = schedule(batch, infos, wanted)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if decision.reasons:
        reasons = Counter(decision.reasons.values()).most_common(1)[0][0]
        print(f"  {len(decision.reasons)} tasks not placed, e.g. {reasons}")
    return Run(tasks, len(decision.placements), wall, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--nodes", type=int, default=1_000)
    args = parser.parse_args()
    print(f"{args.nodes:,} nodes, {SERVICES} services (1 in 4 on zone a, 1 in 3 reserving)")
    print(f"{'tasks':>9} {'placed':>9} {'wall s':>8} {'cpu s':>8} {'placements/s':>13}  growth")
    previous: Run | None = None
    for size in args.sizes:
        result = run(size, args.nodes)
        growth = ""
        if previous is not None:
            growth = (
                f"x{result.tasks / previous.tasks:.3g} tasks"
                f" -> x{result.wall / previous.wall:.3g} time"
            )
        print(
            f"{result.tasks:>9,} {result.placed:>9,} {result.wall:>8.3f} {result.cpu:>8.3f}"
            f" {result.rate:>13,.0f}  {growth}"
        )
        previous = result
    print(SWARMKIT)
    print(f"Goal: >= {GOAL:,} placements/s")


if __name__ == "__main__":
    main()
