"""Shoal at scale: a real manager (drained, its own process) and hollow nodes (`agent hollow`,
the real agent code on an in-memory engine) over real gRPC with mutual TLS, as kubemark does.

For each size N it measures: the time for N nodes to join and be Ready; the manager's CPU and
memory while idle with N nodes heartbeating at the default settings; a burst of S services of
R replicas from the Control calls until every task is RUNNING in the store, as tasks/s, with
Control API latency sampled all through it; 1 % of the nodes lost at once (their hollow process
killed), the time until they are down and their tasks running elsewhere; and what a hollow node
costs. Every figure is printed beside the published anchors below; none is a pass/fail.

The join figure includes the join port's limit on one address (20 joins/s after a burst of 40):
every hollow node here joins from 127.0.0.1.

Run: `make bench-scale` (BENCH_ARGS="--sizes 1000 --tasks 10000" for a quick one), or
.venv/bin/python -m bench.scale --sizes 1000 5000 10000 [--store etcd]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.scale_cluster import Cluster, Process, cpu_share, create_request, stub
from common.api import control_pb2 as api
from common.api import control_pb2_grpc
from tests.etcd_member import etcd_member

ANCHORS = (
    "Nomad C1M: 3,750 containers/s; C2M: 1,500 containers/s",
    "Swarm2K: 2,384 nodes and 95,000 tasks",
    "kubemark: about 10 hollow nodes per core",
    "Kubernetes SLOs: mutating API calls p99 <= 1 s; pod startup p99 <= 5 s",
)
SERVICES = 100
# Far past the goal (p99 within 1 s): a slow answer is a figure, where a call ended by its
# deadline would end the run. The burst's 100 creates wait their turn behind one another.
CALL_DEADLINE = 120
# For the burst's creates, and then for its tasks to run: 100,000 tasks at 167 a second, where
# the slowest run measured (10,000 nodes) took 134 s. A cluster stuck in the burst (on etcd, a
# leader losing its lease over and over) ends the run here rather than in an hour and a half.
BURST_DEADLINE = 600
# Seconds between the starts of two rounds of sampled Control calls (sample_control).
SAMPLE_EVERY = 1.0
# Past a restart's grace: a node that fell silent just before it ended is found after 3
# heartbeat periods (3 s each at 10,000 nodes), at a silence watch's tick, in one write.
SETTLE = 15.0
MiB = 1 << 20


@dataclass
class Figures:
    nodes: int
    join_s: float = math.nan
    idle_cpu: float = math.nan
    idle_rss: int = 0
    base_rss: int = 0
    tasks: int = 0
    burst_s: float = math.nan
    # CPU seconds the manager and the hollow processes spent on the burst: on a loaded machine
    # the wall time says more about the neighbours than about Shoal.
    burst_manager_cpu: float = math.nan
    burst_hollow_cpu: float = math.nan
    latency: dict[str, list[float]] = field(default_factory=dict)
    lost: int = 0
    down_s: float = math.nan
    moved_s: float = math.nan
    hollow_cpu: float = math.nan
    hollow_rss: int = 0
    # The manager restarted: until every node that was Ready is again, how many nodes it
    # marked down other than the lost ones, and how many tasks were started anew meanwhile.
    restart_s: float = math.nan
    restart_down: int = 0
    restart_new_tasks: int = 0

    def rows(self) -> list[tuple[str, str]]:
        per_node = (self.idle_rss - self.base_rss) / self.nodes / 1024
        rows = [
            ("join + Ready", f"{self.join_s:.1f} s ({self.nodes / self.join_s:.0f} nodes/s)"),
            ("idle manager CPU", f"{self.idle_cpu * 100:.1f} % of a core"),
            ("idle manager RSS", f"{self.idle_rss / MiB:.0f} MiB ({per_node:.1f} KiB per node)"),
            (
                f"burst {self.tasks:,} tasks",
                f"{self.burst_s:.1f} s ({self.tasks / self.burst_s:,.0f} tasks/s)",
            ),
            (
                "  CPU spent on it",
                f"manager {self.burst_manager_cpu:.1f} s"
                f" ({self.burst_manager_cpu / self.tasks * 1000:.2f} ms per task),"
                f" hollow nodes {self.burst_hollow_cpu:.1f} s",
            ),
        ]
        for name, samples in self.latency.items():
            rows.append((f"  {name}", _percentiles(samples)))
        rows += [
            (f"lose {self.lost} nodes: down", f"{self.down_s:.1f} s"),
            ("  tasks running elsewhere", f"{self.moved_s:.1f} s"),
            ("restart the manager: all back", f"{self.restart_s:.1f} s"),
            (
                "  healthy nodes marked down",
                "not measured"
                if math.isnan(self.restart_s)
                else f"{self.restart_down} (tasks started anew: {self.restart_new_tasks})",
            ),
            (
                "a hollow node",
                f"{self.hollow_cpu * 100:.3f} % of a core,"
                f" {self.hollow_rss / (self.nodes - self.lost) / 1024:.0f} KiB",
            ),
        ]
        return rows


def _percentiles(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, math.ceil(len(ordered) * 0.99) - 1)]
    return f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms ({len(ordered)} calls)"


def _holds(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except OSError:
        return False


async def wait_until(
    cluster: Cluster, what: str, check: Callable[[], bool], deadline: float, procs: list[Process]
) -> float:
    """Seconds until check holds, polling the manager's gauges; fails past the deadline or
    when a process died. A manager too busy to answer within the read's timeout has not got
    there yet (a restarted one, with every node reconnecting)."""
    start = time.monotonic()
    while not await asyncio.to_thread(_holds, check):
        if time.monotonic() - start > deadline:
            nodes, tasks = await asyncio.to_thread(cluster.counts)
            raise RuntimeError(
                f"{what}: not within {deadline:.0f} s (nodes {dict(nodes)}, tasks {dict(tasks)})"
            )
        dead = [p for p in procs if not p.alive()]
        if dead:
            words = "\n".join(f"{p.name} exited; its log ends:\n{p.last_words()}" for p in dead)
            raise RuntimeError(f"{what}:\n{words}")
        await asyncio.sleep(0.25)
    return time.monotonic() - start


async def sample_control(
    control: control_pb2_grpc.ControlAsyncStub,
    service: str,
    stop: asyncio.Event,
    latency: dict[str, list[float]],
) -> int:
    """Rounds of Control calls until stop, one round begun a second at most; returns how many
    services it created. Paced as a user's tools would call, so the burst bears the same API
    load however fast the calls are answered: back to back, calls answered in a fifth of the
    time came five times as often, and took 14 % of the manager's busy time in a 1,000-node
    burst."""
    created = 0
    calls: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        (
            "service ls",
            lambda: control.ListServices(api.ListServicesRequest(), timeout=CALL_DEADLINE),
        ),
        ("node ls", lambda: control.ListNodes(api.ListNodesRequest(), timeout=CALL_DEADLINE)),
        (
            "service ps (1 service)",
            lambda: control.ListTasks(
                api.ListTasksRequest(service_ref=service), timeout=CALL_DEADLINE
            ),
        ),
    ]
    while not stop.is_set():
        round_began = time.monotonic()
        for name, call in calls:
            start = time.monotonic()
            await call()
            latency.setdefault(name, []).append(time.monotonic() - start)
        start = time.monotonic()
        await control.CreateService(create_request(f"probe-{created}", 1), timeout=CALL_DEADLINE)
        latency.setdefault("service create (1 task)", []).append(time.monotonic() - start)
        created += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY - (time.monotonic() - round_began))
    return created


@dataclass(frozen=True)
class Run:
    tasks: int
    per_process: int
    # Seconds over which the idle CPU is sampled.
    idle_window: float
    store: str


async def measure(figures: Figures, run: Run, root: Path) -> None:
    """Fills in figures phase by phase: what a failed phase leaves out stays nan."""
    cluster = Cluster(root, store=run.store)
    cluster.start_manager()
    try:
        await _phases(cluster, figures, run)
    finally:
        cluster.stop()


async def _phases(cluster: Cluster, figures: Figures, run: Run) -> None:
    per_process = run.per_process
    size, tasks = figures.nodes, figures.tasks
    token = cluster.token()
    figures.base_rss = cluster.manager.rss_bytes()
    figures.lost = max(1, size // 100)
    start = time.monotonic()
    victims = cluster.start_hollow("victims", figures.lost, token)
    rest = size - figures.lost
    hollows = [
        cluster.start_hollow(f"hollow{i}", min(per_process, rest - i * per_process), token)
        for i in range(math.ceil(rest / per_process))
    ]
    everyone = [cluster.manager, victims, *hollows]
    # The manager's own node is Ready too.
    await wait_until(
        cluster,
        "nodes Ready",
        lambda: cluster.counts()[0]["ready"] >= size + 1,
        120 + size / 2,
        everyone,
    )
    figures.join_s = time.monotonic() - start
    print(f"  {size} nodes Ready in {figures.join_s:.1f} s", flush=True)

    await asyncio.sleep(5)  # sessions settle: the first full assignment sets, reconnects
    figures.idle_cpu = await asyncio.to_thread(cpu_share, [cluster.manager], run.idle_window)
    figures.idle_rss = cluster.manager.rss_bytes()
    figures.hollow_cpu = await asyncio.to_thread(cpu_share, hollows, run.idle_window) / rest
    figures.hollow_rss = sum(h.rss_bytes() for h in hollows)
    print(f"  idle manager {figures.idle_cpu * 100:.1f} % of a core", flush=True)

    async with cluster.channel() as channel:
        control = stub(channel)
        replicas = tasks // SERVICES
        figures.tasks = replicas * SERVICES
        stop = asyncio.Event()
        manager_cpu = cluster.manager.cpu_seconds()
        hollow_cpu = sum(h.cpu_seconds() for h in [victims, *hollows])
        start = time.monotonic()
        await asyncio.gather(
            *(
                control.CreateService(
                    create_request(f"burst-{s}", replicas), timeout=BURST_DEADLINE
                )
                for s in range(SERVICES)
            )
        )
        sampler = asyncio.create_task(sample_control(control, "burst-0", stop, figures.latency))
        try:
            await wait_until(
                cluster,
                "burst running",
                lambda: cluster.counts()[1]["running"] >= figures.tasks,
                BURST_DEADLINE,
                everyone,
            )
            figures.burst_s = time.monotonic() - start
            figures.burst_manager_cpu = cluster.manager.cpu_seconds() - manager_cpu
            figures.burst_hollow_cpu = (
                sum(h.cpu_seconds() for h in [victims, *hollows]) - hollow_cpu
            )
        finally:
            stop.set()
            probes = await sampler
        print(f"  burst: {figures.tasks / figures.burst_s:,.0f} tasks/s", flush=True)

    expected = figures.tasks + probes
    await wait_until(
        cluster, "probes running", lambda: cluster.counts()[1]["running"] >= expected, 120, everyone
    )
    victims.stop(signal.SIGKILL)
    start = time.monotonic()
    alive = [p for p in everyone if p is not victims]
    figures.down_s = await wait_until(
        cluster,
        "nodes down",
        lambda: cluster.counts()[0]["down"] >= figures.lost,
        120,
        alive,
    )

    def moved() -> bool:
        _, states = cluster.counts()
        return states["orphaned"] > 0 and states["running"] >= expected

    await wait_until(cluster, "tasks moved", moved, 120, alive)
    figures.moved_s = time.monotonic() - start

    # Every node reconnects at once to a restarted manager; none may be taken for lost.
    _, tasks_before = await asyncio.to_thread(cluster.counts)
    cluster.manager.stop()
    start = time.monotonic()
    # Loading 100,000 tasks with every node knocking takes a while at 10,000 nodes.
    await asyncio.to_thread(cluster.start_manager, 60 + size / 50)

    def back() -> bool:
        nodes, _ = cluster.counts()
        # The lost nodes are down again once the manager stopped waiting for them.
        return nodes["ready"] >= size - figures.lost + 1 and nodes["down"] >= figures.lost

    figures.restart_s = await wait_until(cluster, "nodes back", back, 120 + size / 20, alive)
    # A node that came back and then fell silent is marked down only once the manager awaits
    # none: then at its silence watch's next tick (half a period), and one write after it.
    await wait_until(cluster, "none awaited", lambda: cluster.returning() == 0, 600, alive)
    await asyncio.sleep(SETTLE)
    _, tasks_after = await asyncio.to_thread(cluster.counts)
    figures.restart_down = await asyncio.to_thread(cluster.marked_down) - figures.lost
    figures.restart_new_tasks = sum(tasks_after.values()) - sum(tasks_before.values())


def report(figures: Figures, store: str, load: str) -> None:
    """One size's table, printed as soon as it is measured: a later size may not finish."""
    print(
        f"\nShoal at scale, {figures.nodes:,} nodes (store: {store}; load average before: {load})"
    )
    for name, value in figures.rows():
        print(f"  {name:<34} {value}")
    print(flush=True)


def _stop(*_: object) -> None:
    """The first SIGTERM ends the run, and the cleanup is not cut short by another."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(143)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks in the burst")
    parser.add_argument(
        "--per-process", type=int, default=1000, help="hollow nodes per hollow process"
    )
    parser.add_argument("--store", choices=("sqlite", "etcd"), default="sqlite")
    parser.add_argument(
        "--idle-window", type=float, default=10.0, help="seconds of idle CPU sampled"
    )
    args = parser.parse_args()
    # A stopped benchmark still stops what it started (its processes are in sessions of their
    # own, out of reach of the signal).
    signal.signal(signal.SIGTERM, _stop)
    print("Anchors:")
    for anchor in ANCHORS:
        print(f"  {anchor}")
    for size in args.sizes:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        print(f"\n{size:,} nodes, {args.tasks:,} tasks ...", flush=True)
        figures = Figures(nodes=size, tasks=args.tasks)
        # A phase that fails still leaves the figures measured before it printed.
        try:
            with tempfile.TemporaryDirectory(prefix="shoal-scale-") as tmp:
                root = Path(tmp)
                run = Run(args.tasks, args.per_process, args.idle_window, "")
                if args.store == "etcd":
                    with etcd_member() as endpoint:
                        run = replace(run, store=f"etcd://{endpoint}/shoal")
                        asyncio.run(measure(figures, run, root))
                else:
                    asyncio.run(measure(figures, run, root))
        finally:
            report(figures, args.store, load)


if __name__ == "__main__":
    main()
