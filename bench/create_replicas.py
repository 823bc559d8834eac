"""How fast `service create --replicas N` has N containers running, beside the raw engine.

For N = 6 and 30 on one engine: the same N containers started straight through docker-py in
parallel threads (the floor), Shoal with two agents (the manager drained, so the agents do the
work; the clock starts at the Control call) on each state store, the embedded SQLite file and
etcd (a member of its own on loopback, as `manager serve --store etcd://...`; --no-etcd skips
it), and Docker Swarm's `docker service create` when the
engine can run swarm mode (a one-node swarm, made for the run and left afterwards; an engine
already in a swarm is left alone; --no-swarm skips it). "Running" is observed the same way for
all three: the engine's own `start` events. Then the idle CPU share and resident memory of the
manager and of an agent holding 30 running tasks.

Run: `make bench` (on the engine `scripts/with-engine.sh` finds or starts), or
DOCKER_HOST=unix:///path/docker.sock .venv/bin/python -m bench.create_replicas
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import grpc

from common import convert
from common.api import control_pb2, control_pb2_grpc
from common.model import ContainerSpec, ServiceSpec
from common.tls import Bundle
from tests.etcd_member import etcd_member
from tests.integration.cluster import BIN, Cluster, free_port
from tests.waiting import SLEEPER, wait_for

IMAGE = "local/busybox:latest"
TICKS = os.sysconf("SC_CLK_TCK")


class StartCounter:
    """Counts the engine's container start events that match a label, from a moment on."""

    def __init__(self, engine: docker.APIClient, label: str, want: int) -> None:
        self._done = threading.Event()
        self._count = 0
        self._want = want
        self.finished_at = 0.0
        self._stream = engine.events(
            decode=True, filters={"type": "container", "event": "start", "label": label}
        )
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for _ in self._stream:
            self._count += 1
            if self._count == self._want:
                self.finished_at = time.perf_counter()
                self._done.set()
                return

    def wait(self, timeout: float = 120) -> float:
        if not self._done.wait(timeout):
            raise TimeoutError(f"only {self._count} of {self._want} containers started")
        self._stream.close()
        return self.finished_at


def raw_engine(engine: docker.APIClient, n: int) -> float:
    run = f"raw-{time.monotonic_ns()}"

    def start(i: int) -> str:
        c = engine.create_container(IMAGE, SLEEPER, labels={"bench": run}, name=f"{run}-{i}")
        engine.start(c["Id"])
        return str(c["Id"])

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        ids = list(pool.map(start, range(n)))
    elapsed = time.perf_counter() - began
    with ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(lambda cid: engine.remove_container(cid, force=True), ids))
    return elapsed


def shoal(cluster: Cluster, n: int) -> float:
    name = f"bench{n}"
    spec = ServiceSpec(
        name=name, replicas=n, container=ContainerSpec(image=IMAGE, args=tuple(SLEEPER))
    )
    counter = StartCounter(cluster.engine, f"shoal.service.name={name}", n)
    admin = Bundle.load(cluster.root / "manager" / "admin")
    with grpc.secure_channel(cluster.addr, admin.channel_credentials()) as channel:
        stub = control_pb2_grpc.ControlStub(channel)
        stub.ListNodes(control_pb2.ListNodesRequest())  # connect before the clock starts
        began = time.perf_counter()
        stub.CreateService(control_pb2.CreateServiceRequest(spec=convert.spec_to_pb(spec)))
    elapsed = counter.wait() - began
    cluster.ok("service", "rm", name)
    wait_for(
        lambda: not cluster.containers(name, running=False), "the service's containers to go", 120
    )
    return elapsed


def swarm(engine: docker.APIClient, n: int) -> float:
    name = f"swarmbench{n}"
    counter = StartCounter(engine, f"com.docker.swarm.service.name={name}", n)
    began = time.perf_counter()
    subprocess.run(
        [
            "docker",
            "service",
            "create",
            "-d",
            "--quiet",
            "--no-resolve-image",
            "--name",
            name,
            "--replicas",
            str(n),
            "--stop-grace-period",
            "1s",
            IMAGE,
            *SLEEPER,
        ],
        check=True,
        capture_output=True,
    )
    elapsed = counter.wait() - began
    subprocess.run(["docker", "service", "rm", name], check=True, capture_output=True)
    wait_for(
        lambda: (
            not engine.containers(
                all=True, filters={"label": f"com.docker.swarm.service.name={name}"}
            )
        ),
        "swarm's containers to go",
        120,
    )
    return elapsed


def _beside(row: dict[str, float | None], key: str, width: int, floor: str | None = None) -> str:
    """A figure and its ratio to the docker-py run made beside it; n/a when not measured."""
    ours, raw = row.get(key), row.get(floor or f"raw-{key}")
    if not ours or not raw:
        return f"{'n/a':>{width}} {'':>6}"
    return f"{ours:{width - 1}.2f}s {ours / raw:5.2f}x"


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def idle_share(pids: dict[str, int], seconds: float) -> dict[str, float]:
    before = {k: cpu_seconds(p) for k, p in pids.items()}
    time.sleep(seconds)
    return {k: 100 * (cpu_seconds(p) - before[k]) / seconds for k, p in pids.items()}


def cli_startup(cluster: Cluster, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        cluster.ok("service", "ls")
        best = min(best, time.perf_counter() - began)
    return best


def with_cluster(
    engine: docker.APIClient,
    agents: int,
    work: Callable[[Cluster], None],
    store: list[str] | None = None,
) -> None:
    """store: the manager's --store flag and its value; the SQLite file when None."""
    with tempfile.TemporaryDirectory(prefix="shoal-bench-") as root:
        # The default heartbeat, not the tests' short one: idle cost is measured as users run it.
        flags = ["--availability", "drain", "--heartbeat-period", "1", *(store or [])]
        cluster = Cluster(Path(root), free_port(), engine, manager_args=flags)
        try:
            cluster.start_manager()
            for i in range(agents):
                cluster.add_agent(i + 1)
            wait_for(lambda: cluster.all_ready(agents + 1), "every node ready")
            work(cluster)
        finally:
            cluster.stop()


def swarm_available(engine: docker.APIClient) -> bool:
    """Turn the engine into a one-node swarm, unless it already takes part in one."""
    if engine.info().get("Swarm", {}).get("LocalNodeState") != "inactive":
        return False
    done = subprocess.run(
        ["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], capture_output=True
    )
    return done.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="6,30")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per figure; the median is shown"
    )
    parser.add_argument("--no-swarm", action="store_true")
    parser.add_argument("--no-etcd", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    engine = docker.from_env().api
    results: dict[int, dict[str, float | None]] = {n: {} for n in sizes}

    def creations(backend: str) -> Callable[[Cluster], None]:
        def run(cluster: Cluster) -> None:
            if backend == "sqlite":
                print(f"shoal CLI start-up + one call (best of 5): {cli_startup(cluster):.3f} s")
            for n in sizes:
                # The floor measured again beside each backend: the engine's pace drifts.
                raws = [raw_engine(engine, n) for _ in range(args.repeat)]
                results[n][f"raw-{backend}"] = median(raws)
                results[n][backend] = median(shoal(cluster, n) for _ in range(args.repeat))

        return run

    with_cluster(engine, 2, creations("sqlite"))
    if not args.no_etcd:
        with etcd_member() as member:
            with_cluster(engine, 2, creations("etcd"), ["--store", f"etcd://{member}"])
    if not args.no_swarm and swarm_available(engine):
        try:
            for n in sizes:
                results[n]["swarm"] = median(swarm(engine, n) for _ in range(args.repeat))
        finally:
            subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True)
    print(f"median of {args.repeat} runs each; each ratio is to the docker-py run beside it")
    print(
        f"{'N':>4} {'docker-py direct':>17} {'shoal sqlite':>13} {'ratio':>6}"
        f" {'shoal etcd':>11} {'ratio':>6} {'swarm':>8} {'ratio':>6}"
    )
    for n in sizes:
        r = results[n]
        raw = r["raw-sqlite"] or 0.0
        print(
            f"{n:>4} {raw:16.2f}s {_beside(r, 'sqlite', 13)} {_beside(r, 'etcd', 11)}"
            f" {_beside(r, 'swarm', 8, 'raw-sqlite')}"
        )

    def idle(cluster: Cluster) -> None:
        cluster.ok("service", "create", "-d", "--name", "idle", "--replicas", "30", IMAGE, *SLEEPER)
        wait_for(lambda: cluster.running("idle", 30), "30 running tasks", 120)
        assert cluster.manager.proc is not None
        assert cluster.agents[0].proc is not None
        pids = {"manager": cluster.manager.proc.pid, "agent (30 tasks)": cluster.agents[0].proc.pid}
        held = [t for t in cluster.tasks("idle") if t["Node"] == "it-agent-1"]
        print(f"the agent holds {len(held)} running tasks; the manager is drained")
        shares = idle_share(pids, args.idle_seconds)
        for label, pid in pids.items():
            print(f"idle {label}: {shares[label]:.2f} % of a core, {rss_mb(pid):.1f} MB resident")

    with_cluster(engine, 1, idle)


if __name__ == "__main__":
    assert BIN.exists()
    main()
