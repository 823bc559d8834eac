"""Manager failover, measured in the lab: three managers on h1-h3, the leader killed with -9.

Figures per orchestrator, the median of --repeat runs:
  kill -> write accepted   from the kill until a `service create` sent at that moment through
                           another manager succeeds (tried again and again, as a client would:
                           a try refused because the service exists counts, its answer was lost)
  kill -> agents back      from the kill until every agent holds a session with the new leader
                           (Shoal only: read from the new leader's log)
  kill -> service running  from the kill until that service's replicas run

Docker Swarm: swarm mode with 3 managers on the engines of h1-h3 (its own raft); the leading
manager is the leader's dockerd, killed with -9 and started again after each run.
Shoal: etcd members and managers on h1-h3 (tests/lab_etcd.managers_on_etcd), agents on h4-h5;
the leading manager's process is killed with -9 and started again after each run.
Each orchestrator is one Failover below, measured the same way by measure(): the managers' own
answers for who leads, the engines' container lists for what runs.

Run as root: .venv/bin/python -m bench.failover [--repeat N]  (about a minute per run and
orchestrator).
Traffic stays on the lab's addresses.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from tests.lab import Lab
from tests.lab_etcd import managers_on_etcd
from tests.lab_host import BIN, PORT, Host, pings
from tests.waiting import SLEEPER, wait_for

IMAGE = "local/busybox:latest"
REPLICAS = 3
# Swarm's raft elects within 10-20 s by its settings; far more means something broke.
WITHIN = 120.0
# A client's pause between two tries of its write.
RETRY = 0.05


@dataclass(frozen=True)
class Figures:
    write: float
    running: float
    # None where it is not measured.
    agents: float | None


class Failover(Protocol):
    """One orchestrator with three managers in the lab, as measure() drives it."""

    name: str
    # Whether agents_back() can tell when the agents are back.
    sees_agents: bool

    def leader(self) -> Host | None: ...

    def kill(self, host: Host) -> None: ...

    def create(self, via: Host, service: str) -> bool:
        """One try at creating service through via's manager; whether it is created."""
        ...

    def running(self, service: str) -> int: ...

    def recover(self, host: Host) -> None:
        """Start the killed manager again and wait until all three are managers again."""
        ...

    def remove(self, service: str) -> None: ...

    def agents_back(self, killed_at: datetime) -> float | None:
        """Seconds from killed_at until every agent held a session with the new leader; None
        until they all do (always, where sees_agents is False)."""
        ...


def measure(lab: Lab, f: Failover, service: str) -> Figures:
    leader = wait_for(f.leader, f"{f.name}'s leader", WITHIN)
    via = next(h for h in lab.hosts if h is not leader)
    f.kill(leader)
    began, killed_at = time.perf_counter(), datetime.now(UTC)
    wait_for(lambda: f.create(via, service), f"{f.name} to accept a write", WITHIN, RETRY)
    write = time.perf_counter() - began
    wait_for(lambda: f.running(service) >= REPLICAS, f"{service} running", WITHIN)
    running = time.perf_counter() - began
    agents = (
        wait_for(lambda: f.agents_back(killed_at), "every agent back", WITHIN)
        if f.sees_agents
        else None
    )
    f.recover(leader)
    f.remove(service)
    return Figures(write, running, agents)


class Swarm:
    name = "docker swarm"
    # A swarm worker's reconnection shows in no answer of the managers.
    sees_agents = False

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.managers = lab.hosts[:3]

    def docker(
        self, host: Host, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "-H", host.docker_host, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def init(self) -> None:
        first, *others = self.managers
        self.docker(first, "swarm", "init", "--advertise-addr", first.addr)
        token = self.docker(first, "swarm", "join-token", "-q", "manager").stdout.strip()
        for host in others:
            argv = ["swarm", "join", "--advertise-addr", host.addr, "--token", token]
            self.docker(host, *argv, f"{first.addr}:2377")
        wait_for(lambda: self._settled(first), "3 swarm managers", WITHIN)

    def _settled(self, via: Host) -> bool:
        done = self.docker(
            via, "node", "ls", "--format", "{{.Status}} {{.ManagerStatus}}", check=False
        )
        lines = sorted(done.stdout.split("\n")[:-1]) if done.returncode == 0 else []
        return lines == ["Ready Leader", "Ready Reachable", "Ready Reachable"]

    def leave(self) -> None:
        for host in reversed(self.lab.hosts):
            if host.dockerd is not None:
                self.docker(host, "swarm", "leave", "--force", check=False)

    # -- Failover -----------------------------------------------------------------------------

    def leader(self) -> Host | None:
        for host in self.managers:
            if host.dockerd is None:
                continue
            done = self.docker(
                host,
                "node",
                "inspect",
                "self",
                "--format",
                "{{.ManagerStatus.Leader}}",
                check=False,
            )
            if done.stdout.strip() == "true":
                return host
        return None

    def kill(self, host: Host) -> None:
        self.lab.kill_engine(host)

    def create(self, via: Host, service: str) -> bool:
        try:
            done = self.docker(
                via,
                "service", "create", "-d", "--quiet", "--no-resolve-image", "--name", service,
                "--replicas", str(REPLICAS), "--stop-grace-period", "1s", IMAGE, *SLEEPER,
                check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0 or "already exists" in done.stderr

    def running(self, service: str) -> int:
        label = f"com.docker.swarm.service.name={service}"
        count = 0
        for host in self.lab.hosts:
            if host.dockerd is None or not pings(host):
                continue
            with host.engine() as api:
                count += len(api.containers(filters={"label": label}))
        return count

    def recover(self, host: Host) -> None:
        self.lab.start_engine(host)
        wait_for(lambda: self._settled(host), "the killed manager back in the swarm", WITHIN)

    def remove(self, service: str) -> None:
        self.docker(self.managers[0], "service", "rm", service)
        wait_for(lambda: self.running(service) == 0, f"{service} removed", WITHIN)

    def agents_back(self, killed_at: datetime) -> float | None:
        return None


def run_swarm(lab: Lab, repeat: int) -> list[Figures]:
    swarm = Swarm(lab)
    try:
        swarm.init()
    except subprocess.CalledProcessError as exc:
        print(f"docker swarm is not available here: {exc.stderr.strip()}")
        return []
    try:
        return [measure(lab, swarm, f"failover-{i}") for i in range(repeat)]
    finally:
        swarm.leave()


class Shoal:
    name = "shoal"
    sees_agents = True

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def shoal(self, *args: str, via: Host | None = None) -> subprocess.CompletedProcess[str]:
        """Through via's manager, or every manager in turn."""
        host = ["--host", f"{via.addr}:{PORT}"] if via is not None else []
        try:
            return subprocess.run(
                [str(BIN / "shoal"), *host, *args],
                capture_output=True,
                text=True,
                env=self.lab.env,
                timeout=60,
            )
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(exc.cmd, 124, "", "timed out")

    def _nodes(self) -> list[dict[str, str]]:
        done = self.shoal("node", "ls", "--format", "json")
        return (
            [json.loads(line) for line in done.stdout.splitlines()] if done.returncode == 0 else []
        )

    def settled(self) -> bool:
        nodes = self._nodes()
        return (
            len(nodes) == len(self.lab.hosts)
            and all(n["Status"] == "Ready" for n in nodes)
            and sorted(n["ManagerStatus"] for n in nodes if n["ManagerStatus"])
            == ["Leader", "Reachable", "Reachable"]
        )

    def leader(self) -> Host | None:
        named = [n["Hostname"] for n in self._nodes() if n["ManagerStatus"] == "Leader"]
        return next((h for h in self.lab.hosts if [h.name] == named), None)

    def kill(self, host: Host) -> None:
        self.lab.kill_daemon(host)

    def create(self, via: Host, service: str) -> bool:
        done = self.shoal(
            "service", "create", "-d", "-q", "--name", service, "--replicas", str(REPLICAS),
            "--stop-grace-period", "1s", IMAGE, *SLEEPER, via=via,
        )  # fmt: skip
        return done.returncode == 0 or "already exists" in done.stderr

    def running(self, service: str) -> int:
        return sum(len(ids) for ids in self.lab.running(service).values())

    def recover(self, host: Host) -> None:
        self.lab.start_manager(host)
        wait_for(self.settled, "the killed manager back as a follower", WITHIN)

    def remove(self, service: str) -> None:
        self.shoal("service", "rm", service)
        wait_for(lambda: self.running(service) == 0, f"{service} removed", WITHIN)

    def agents_back(self, killed_at: datetime) -> float | None:
        leader = self.leader()
        agents = {n["ID"] for n in self._nodes() if not n["ManagerStatus"]}
        if leader is None or not agents:
            return None
        opened: dict[str, datetime] = {}
        for line in leader.log.read_text(errors="replace").splitlines():
            # The last line may be half written.
            if '"event": "session opened"' not in line or not line.endswith("}"):
                continue
            record = json.loads(line)
            at = datetime.fromisoformat(record["timestamp"])
            if record.get("node_id") in agents and at > killed_at:
                opened.setdefault(record["node_id"], at)
        if set(opened) != agents:
            return None
        return (max(opened.values()) - killed_at).total_seconds()


def run_shoal(lab: Lab, repeat: int) -> list[Figures]:
    managers_on_etcd(lab)
    shoal = Shoal(lab)
    wait_for(shoal.settled, "3 Shoal managers and their agents", WITHIN)
    return [measure(lab, shoal, f"shoal-failover-{i}") for i in range(repeat)]


# Each orchestrator's runs, on a lab whose engines are up and hold the image. Swarm first: its
# engines are then left to Shoal, whose daemons the lab's down() ends.
RUNS: dict[str, Callable[[Lab, int], list[Figures]]] = {
    "docker swarm": run_swarm,
    Shoal.name: run_shoal,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    # h1-h3 managers (of either orchestrator), h4-h5 Shoal's agents.
    lab = Lab(Path(tempfile.mkdtemp(prefix="shoal-failover-", dir="/tmp")), size=5, heartbeat="1s")
    results: dict[str, list[Figures]] = {}
    try:
        lab.engines_up()
        for name, run in RUNS.items():
            results[name] = run(lab, args.repeat)
    finally:
        lab.down()
    print(f"median of {args.repeat} run(s); 3 managers on lab hosts h1-h3, the leader killed -9;")
    print(f"a {REPLICAS}-replica service create sent through another manager at the kill")
    print(
        f"{'':14} {'kill -> write accepted':>24} {'-> agents back':>16} {'-> service running':>20}"
    )
    for name, runs in results.items():
        if not runs:
            print(f"{name:14} {'n/a':>24}")
            continue
        write = statistics.median(r.write for r in runs)
        running = statistics.median(r.running for r in runs)
        found = [r.agents for r in runs if r.agents is not None]
        agents = f"{statistics.median(found):15.2f}s" if found else f"{'n/a':>16}"
        each = ", ".join(
            f"{r.write:.1f}/{'-' if r.agents is None else f'{r.agents:.1f}'}/{r.running:.1f}"
            for r in runs
        )
        print(f"{name:14} {write:23.2f}s {agents} {running:19.2f}s   (each run: {each})")


if __name__ == "__main__":
    main()
