"""Self-healing, measured in the lab: Shoal beside Docker Swarm on the same simulated hosts.

Three figures each, with 6 replicas on 3 hosts and default settings (heartbeat 1 s):
  node loss -> detected          h3's link cut until the orchestrator says h3 is down
  node loss -> replicas back     h3's link cut until 6 replicas run on h1 and h2
  container kill -> replacement  a container killed until its replacement runs
Then the same on Docker Swarm's swarm mode, made on the same engines after Shoal is gone.

Run as root: .venv/bin/python -m bench.self_healing [--repeat N]  (about a minute per repeat).
Every figure is observed the same way for both: the engines' own container lists, polled every
20 ms, and each orchestrator's node list. Traffic stays on the lab's addresses.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.lab import Lab
from tests.lab_host import Host
from tests.waiting import SLEEPER, wait_for

IMAGE = "local/busybox:latest"
POLL = 0.02


def clock(condition: Callable[[], bool], what: str, timeout: float = 120) -> float:
    """Seconds until condition holds, polled every POLL."""
    began = time.perf_counter()
    wait_for(lambda: condition() or None, what, timeout)
    return time.perf_counter() - began


def running(host: Host, label: str) -> list[str]:
    with host.engine() as api:
        return [c["Id"] for c in api.containers(filters={"label": label})]


class Orchestrator:
    name = ""
    label = ""

    def node_down(self, host: Host) -> bool:
        raise NotImplementedError

    def all_ready(self) -> bool:
        raise NotImplementedError


class Shoal(Orchestrator):
    name = "shoal"
    label = "shoal.service.name=heal"

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def node_down(self, host: Host) -> bool:
        return bool(self.lab.nodes()[host.name]["Status"] == "Down")

    def all_ready(self) -> bool:
        return self.lab.ready_nodes() == self.lab.size


class Swarm(Orchestrator):
    name = "docker swarm"
    label = "com.docker.swarm.service.name=heal"

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def docker(self, *args: str) -> str:
        done = subprocess.run(
            ["docker", "-H", self.lab.manager.docker_host, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    def statuses(self) -> dict[str, str]:
        # By ID: every lab host has the machine's hostname.
        out = self.docker("node", "ls", "--format", "{{.ID}} {{.Status}}")
        return dict(line.split() for line in out.splitlines() if line.strip())

    def node_down(self, host: Host) -> bool:
        # Only h3 is ever cut off, so any node down is h3.
        return "Down" in self.statuses().values()

    def all_ready(self) -> bool:
        return all(s == "Ready" for s in self.statuses().values())


def measure(lab: Lab, o: Orchestrator) -> dict[str, float]:
    h1, h2, h3 = lab.hosts
    wait_for(
        lambda: sum(len(running(h, o.label)) for h in lab.hosts) == 6 or None, "6 replicas", 120
    )
    lab.cut(h3)
    began = time.perf_counter()
    wait_for(lambda: o.node_down(h3) or None, f"{o.name} to see h3 down", 120)
    detected = time.perf_counter() - began
    wait_for(
        lambda: len(running(h1, o.label)) + len(running(h2, o.label)) == 6 or None,
        "6 on h1+h2",
        120,
    )
    back = time.perf_counter() - began
    lab.restore(h3)
    wait_for(lambda: o.all_ready() or None, "h3 back", 120)
    victim = running(h2, o.label)[0]
    with h2.engine() as api:
        api.kill(victim)
    replaced = clock(
        lambda: (
            victim not in running(h2, o.label)
            and len(running(h1, o.label)) + len(running(h2, o.label)) + len(running(h3, o.label))
            == 6
        ),
        "a replacement",
    )
    return {"detected": detected, "back": back, "replaced": replaced}


def run_shoal(lab: Lab) -> dict[str, float]:
    create = lab.shoal(
        "service", "create", "-d", "--name", "heal", "--replicas", "6", IMAGE, *SLEEPER
    )
    assert create.returncode == 0, create.stderr
    try:
        return measure(lab, Shoal(lab))
    finally:
        lab.shoal("service", "rm", "heal")
        wait_for(
            lambda: not any(running(h, Shoal.label) for h in lab.hosts) or None, "cleanup", 120
        )


def run_swarm(lab: Lab) -> dict[str, float] | None:
    swarm = Swarm(lab)
    try:
        swarm.docker("swarm", "init", "--advertise-addr", lab.manager.addr)
    except subprocess.CalledProcessError as exc:
        print(f"docker swarm is not available here: {exc.stderr.strip()}")
        return None
    try:
        token = swarm.docker("swarm", "join-token", "-q", "worker").strip()
        for host in lab.hosts[1:]:
            subprocess.run(
                [
                    "docker",
                    "-H",
                    host.docker_host,
                    "swarm",
                    "join",
                    "--advertise-addr",
                    host.addr,
                    "--token",
                    token,
                    f"{lab.manager.addr}:2377",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
        wait_for(
            lambda: (len(swarm.statuses()) == lab.size and swarm.all_ready()) or None, "swarm nodes"
        )
        swarm.docker(
            "service",
            "create",
            "-d",
            "--quiet",
            "--no-resolve-image",
            "--name",
            "heal",
            "--replicas",
            "6",
            "--stop-grace-period",
            "1s",
            IMAGE,
            *SLEEPER,
        )
        return measure(lab, swarm)
    finally:
        for host in reversed(lab.hosts):
            subprocess.run(
                ["docker", "-H", host.docker_host, "swarm", "leave", "--force"],
                capture_output=True,
                timeout=60,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-swarm", action="store_true")
    args = parser.parse_args()
    lab = Lab(Path(tempfile.mkdtemp(prefix="shoal-bench-lab-", dir="/tmp")), size=3, heartbeat="1s")
    results: dict[str, list[dict[str, float]]] = {"shoal": [], "docker swarm": []}
    try:
        lab.up()
        for _ in range(args.repeat):
            results["shoal"].append(run_shoal(lab))
        for host in lab.hosts:
            lab.kill_daemon(host)
        if not args.no_swarm:
            for _ in range(args.repeat):
                figures = run_swarm(lab)
                if figures is None:
                    break
                results["docker swarm"].append(figures)
    finally:
        lab.down()
    print(f"median of {args.repeat} run(s); 6 replicas on 3 lab hosts; default settings")
    columns = ("node loss -> detected", "-> replicas back", "container kill -> replaced")
    print(f"{'':14} {columns[0]:>22} {columns[1]:>17} {columns[2]:>27}")
    for name, runs in results.items():
        if not runs:
            print(f"{name:14} {'n/a':>22}")
            continue
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{name:14} {med['detected']:21.2f}s {med['back']:16.2f}s {med['replaced']:26.2f}s")


if __name__ == "__main__":
    main()
