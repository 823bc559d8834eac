"""A joined node that lies, in the lab: a rogue node (tests/rogue_node.py) with a real
certificate, its session from h3's address, reports its own task running with crafted
addresses and ports. No other host's netfilter ever holds them, and the routing mesh, the
virtual IPs and the names keep working.

`honest` (2 replicas, on h1 and h2) makes h1 and h2 nodes of the network; `crafted` runs only on
the rogue node, which starts nothing: it only reports. Foreign addresses are from TEST-NET
192.0.2.0/24, and no traffic is ever sent to them.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
from collections.abc import Iterator
from ipaddress import IPv4Network
from typing import Any

import grpc
import pytest

from common.api import control_pb2 as cpb
from common.api import control_pb2_grpc
from common.tls import Bundle
from tests.e2e.probes import HTTPD, IMAGE, hits_from, lookup, replicas, url
from tests.e2e.test_networks import create, shoal_ok
from tests.lab import Lab
from tests.lab_host import REPO, Host
from tests.waiting import SLEEPER, wait_for

NETWORK = "roguenet"
SUBNET = "10.151.0.0/16"
ROGUE = "rogue"
HONEST_PORT = 8091
CRAFTED_PORT = 8092
# What the rogue may report, and does last: a port, and an address of its own slice.
GOOD_HOST_PORT = 30094
# What must never reach another host's rules, as iptables-save would show it.
POISONS = ("192.0.2.", "70000", "-A PREROUTING -j ACCEPT", "-A INPUT -j ACCEPT")


class RogueNode:
    """tests/rogue_node.py running inside host's namespace."""

    def __init__(self, lab: Lab, host: Host) -> None:
        token = shoal_ok(lab, "join-token", "worker", "-q").strip()
        self.proc = subprocess.Popen(
            host.inside(sys.executable, "-m", "tests.rogue_node", lab.addr, token, ROGUE),
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = self.answer(60)

    def answer(self, within: float = 30) -> dict[str, Any]:
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], within)
        line = self.proc.stdout.readline() if readable else ""
        assert line, f"the rogue node said nothing (exit code {self.proc.poll()})"
        found: dict[str, Any] = json.loads(line)
        return found

    def report(self, container: str, **fields: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"container": container, **fields}) + "\n")
        self.proc.stdin.flush()
        assert self.answer() == {"sent": container}

    def address(self, index: int) -> str:
        return str(IPv4Network(self.info["slice"])[index])

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def rogue(lab: Lab) -> Iterator[RogueNode]:
    h3 = lab.hosts[2]
    shoal_ok(lab, "network", "create", "--subnet", SUBNET, NETWORK)
    create(
        lab, "honest", "--network", NETWORK, "--replicas", "2", "--replicas-max-per-node", "1",
        "--constraint", f"node.hostname!={h3.name}", "--constraint", f"node.hostname!={ROGUE}",
        "-p", f"{HONEST_PORT}:80", IMAGE, *HTTPD,
    )  # fmt: skip
    create(
        lab, "crafted", "--network", NETWORK, "--constraint", f"node.hostname=={ROGUE}",
        "-p", f"{CRAFTED_PORT}:80", IMAGE, *SLEEPER,
    )  # fmt: skip
    node: RogueNode | None = None
    try:
        wait_for(lambda: len(replicas(lab, "honest")) == 2, "honest on h1 and h2", 60)
        node = RogueNode(lab, h3)
        yield node
    finally:
        if node is not None:
            node.stop()
        lab.shoal("node", "rm", "--force", ROGUE)
        for service in ("honest", "crafted"):
            lab.shoal("service", "rm", service)
        wait_for(lambda: lab.shoal("network", "rm", NETWORK).returncode == 0, "network removed")


def stored_container(lab: Lab, task_id: str) -> str:
    """The container ID the manager stored for the task: which report it took last."""
    admin = Bundle.load(lab.manager.state_dir / "admin")
    with grpc.secure_channel(lab.addr, admin.channel_credentials()) as channel:
        listed = control_pb2_grpc.ControlStub(channel).ListTasks(cpb.ListTasksRequest(), timeout=10)
    return next(t.status.container_id for t in listed.tasks if t.id == task_id)


def rules(host: Host) -> str:
    done = subprocess.run(
        host.inside("iptables-save"), capture_output=True, text=True, check=True, timeout=20
    )
    return done.stdout


def test_a_rogue_nodes_crafted_reports_reach_no_other_hosts_rules(
    lab: Lab, rogue: RogueNode
) -> None:
    """A newline-injected address, a TEST-NET address, host port 70000 and a newline-injected
    container address, each after a good report that h1 and h2 applied: once the manager took
    the crafted report, h1 and h2 apply what it left (the good address and port gone), and
    none of the crafted values. The mesh, the virtual IP and the names keep working."""
    h1, h2, h3 = lab.hosts
    network, task = rogue.info["network_id"], rogue.info["task_id"]

    def everywhere(marks: tuple[str, ...], present: bool) -> bool:
        """Whether h1's and h2's rules hold (or lack) each of marks."""
        return all((mark in rules(h)) == present for h in (h1, h2) for mark in marks)

    def good_report(name: str, index: int) -> tuple[str, tuple[str, ...]]:
        """Report a good address and port; wait until h1 and h2 apply them."""
        address, port = rogue.address(10 + index), 30100 + index
        rogue.report(name, addresses={network: address}, ports=[[port, "172.17.0.2"]])
        # The virtual IP's rule and the mesh's, each ending its line.
        marks = (f"--to-destination {address}\n", f"--to-destination {h3.addr}:{port}\n")
        wait_for(lambda: everywhere(marks, True), f"h1 and h2 to apply report {name}", 30)
        return address, marks

    crafted: list[dict[str, Any]] = [
        {"addresses": {network: f"{rogue.address(6)}\n-I PREROUTING 1 -j ACCEPT"}},
        {"addresses": {network: "192.0.2.7"}},
        {"ports": [[70000, "172.17.0.2"]]},
        {"ports": [[30093, "192.0.2.9\n-A INPUT -j ACCEPT"]]},
    ]
    for index, fields in enumerate(crafted):
        _, marks = good_report(f"good{index}", index)
        name = f"crafted{index}"
        rogue.report(name, **fields)
        wait_for(lambda: stored_container(lab, task) == name, f"the manager to take {name}")  # noqa: B023
        wait_for(lambda: everywhere(marks, False), f"h1 and h2 to apply {name}", 30)  # noqa: B023
        for host in (h1, h2):
            taken = rules(host)
            for poison in (*POISONS, rogue.address(6)):
                assert poison not in taken, (host.name, name, poison)
    good, _ = good_report("good", len(crafted))
    honest = replicas(lab, "honest")
    answers = hits_from(h2, url(h1, HONEST_PORT), 20)
    assert set(answers) == honest, answers
    assert lookup(h1, "honest", "tasks.crafted") == [good]
