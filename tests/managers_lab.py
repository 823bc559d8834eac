"""The lab of three managers on a 3-member etcd cluster (issue 14): etcd members and managers on
h1-h3 (h1 `manager serve --store`, h2-h3 `manager join`), agents on h4-h5, and what the tests and
the soak (bench/soak.py) ask of it. One shape, brought up once per run: the e2e modules that use
it share it through LabSlot (tests/e2e/conftest.py)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab import Lab
from tests.lab_etcd import LabEtcd, managers_on_etcd
from tests.lab_host import BIN, PORT, Host, no_traceback
from tests.waiting import SLEEPER, wait_for

# LabSlot's name for this shape.
SHAPE = "3 managers on etcd"

IMAGE = "local/busybox:latest"
# 1 s heartbeats: a new leader's grace is then 6 s, room for agents on a loaded machine.
HEARTBEAT = "1s"
# Every wait is bounded; generous, since the lab shares 2 cores with much else.
CONVERGED = 180.0


@dataclass
class Managers:
    lab: Lab
    etcd: LabEtcd
    # Every service a create (or scale) was acknowledged for, with its replicas.
    acknowledged: dict[str, int] = field(default_factory=dict)

    @property
    def agents(self) -> list[Host]:
        return self.lab.hosts[3:]

    def shoal(self, *args: str, host: Host | None = None) -> subprocess.CompletedProcess[str]:
        """Through every manager in turn (SHOAL_HOST lists them all), or through host's."""
        via = ["--host", f"{host.addr}:{PORT}"] if host is not None else []
        try:
            return no_traceback(
                subprocess.run(
                    [str(BIN / "shoal"), *via, *args],
                    capture_output=True,
                    text=True,
                    env=self.lab.env,
                    timeout=60,
                )
            )
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(exc.cmd, 124, "", "timed out")

    def nodes(self, host: Host | None = None) -> dict[str, dict[str, str]]:
        done = self.shoal("node", "ls", "--format", "json", host=host)
        if done.returncode != 0:
            return {}
        return {n["Hostname"]: n for n in map(json.loads, done.stdout.splitlines())}

    def leader(self, host: Host | None = None) -> Host | None:
        """The manager that leads, as the one asked lists it."""
        named = [h for h, n in self.nodes(host).items() if n["ManagerStatus"] == "Leader"]
        return next((h for h in self.lab.hosts if [h.name] == named), None)

    def another_leader(self, old: Host) -> Host | None:
        leader = self.leader()
        return leader if leader is not old else None

    def settled(self) -> bool:
        return not self.unsettled()

    def unsettled(self) -> list[str]:
        """What keeps the cluster from one leader, the other managers Reachable and every node
        Ready: empty once it is so."""
        nodes = self.nodes()
        if not nodes:
            return ["no manager answers node ls"]
        missing = sorted(h.name for h in self.lab.hosts if h.name not in nodes)
        left = [f"node {name} not listed" for name in missing]
        left += [
            f"node {name} {n['Status']}"
            for name, n in sorted(nodes.items())
            if n["Status"] != "Ready"
        ]
        statuses = sorted(n["ManagerStatus"] for n in nodes.values())
        if statuses != ["", "", "Leader", "Reachable", "Reachable"]:
            left.append(f"managers {'/'.join(s for s in statuses if s)}")
        return left

    def create(self, name: str, replicas: int, *flags: str) -> None:
        """As a client would: again and again until a manager acknowledges it (a try refused
        because the service exists was acknowledged before its answer was lost)."""

        def created() -> bool:
            done = self.shoal(
                "service", "create", "-d", "--name", name, "--replicas", str(replicas),
                *flags, IMAGE, *SLEEPER,
            )  # fmt: skip
            return done.returncode == 0 or "already exists" in done.stderr

        wait_for(created, f"{name} created", CONVERGED, interval=0.2)
        self.acknowledged[name] = replicas

    def containers(self, service: str) -> dict[str, list[str]]:
        """host name -> IDs of the service's running containers, on hosts whose node runs."""
        return {h: sorted(ids) for h, ids in self.lab.running(service).items() if ids}

    def converged(self, service: str, replicas: int) -> dict[str, list[str]] | None:
        listed = {s["Name"]: s["Replicas"] for s in self.services()}
        found = self.containers(service)
        count = sum(len(ids) for ids in found.values())
        return (
            found if listed.get(service) == f"{replicas}/{replicas}" == f"{count}/{count}" else None
        )

    def services(self) -> list[dict[str, str]]:
        done = self.shoal("service", "ls", "--format", "json")
        return (
            [json.loads(line) for line in done.stdout.splitlines()] if done.returncode == 0 else []
        )


def managers_up(lab: Lab) -> Managers:
    lab.engines_up()
    managers = Managers(lab, managers_on_etcd(lab))
    wait_for(managers.settled, "3 managers and 2 agents, all Ready", 120)
    return managers


def lab_of_managers(root: Path) -> Lab:
    return Lab(root, size=5, heartbeat=HEARTBEAT)
