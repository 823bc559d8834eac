"""Three managers on a 3-member etcd cluster (issue 14), in the lab: etcd members and managers on
h1-h3 (h1 `manager serve --store`, h2-h3 `manager join`), agents on h4-h5. Faults, in order:
the leader killed during a 20-replica create, the leader cut off from etcd, an etcd member
killed, every manager restarted; at the end, every write a manager acknowledged is there.

The tests share one cluster and run in file order: each starts from the state the one before
left, with one leader and every node Ready.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import LabSlot
from tests.lab import Lab
from tests.lab_etcd import LabEtcd, managers_on_etcd
from tests.lab_host import BIN, PORT, Host, run
from tests.waiting import SLEEPER, wait_for

pytestmark = pytest.mark.etcd

IMAGE = "local/busybox:latest"
BIG = 20
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
            return subprocess.run(
                [str(BIN / "shoal"), *via, *args],
                capture_output=True,
                text=True,
                env=self.lab.env,
                timeout=60,
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
        """One leader, the other managers Reachable, every node Ready."""
        nodes = self.nodes()
        statuses = sorted(n["ManagerStatus"] for n in nodes.values())
        return (
            len(nodes) == len(self.lab.hosts)
            and all(n["Status"] == "Ready" for n in nodes.values())
            and statuses == ["", "", "Leader", "Reachable", "Reachable"]
        )

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


def _up(lab: Lab) -> Managers:
    lab.engines_up()
    managers = Managers(lab, managers_on_etcd(lab))
    wait_for(managers.settled, "3 managers and 2 agents, all Ready", 120)
    return managers


@pytest.fixture(scope="module")
def managers(lab_slot: LabSlot) -> Managers:
    return lab_slot.take(
        "3 managers on etcd", lambda root: Lab(root, size=5, heartbeat=HEARTBEAT), _up
    )


def _logged(host: Host, event: str, since: datetime) -> list[datetime]:
    """When host's daemon logged event (a JSON line) after since, each time it did."""
    found = []
    for line in host.log.read_text(errors="replace").splitlines():
        # The last line may be half written.
        if f'"event": "{event}"' in line and line.endswith("}"):
            at = datetime.fromisoformat(json.loads(line)["timestamp"])
            if at > since:
                found.append(at)
    return found


def test_leader_killed_during_a_20_replica_create(managers: Managers) -> None:
    """kill -9 of the leader as a 20-replica create is sent: another manager leads, the create
    (tried again by the client, through the other managers) is acknowledged, the service
    converges to exactly 20, and no container that ran before is restarted."""
    lab = managers.lab
    managers.create("steady", 4, "--constraint", "node.role==worker")
    before = wait_for(lambda: managers.converged("steady", 4), "steady running", CONVERGED)
    old = wait_for(managers.leader, "a leader")

    sent = subprocess.Popen(
        [str(BIN / "shoal"), "service", "create", "-d", "--name", "big", "--replicas", str(BIG),
         "--constraint", "node.role==worker", IMAGE, *SLEEPER],
        env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lab.kill_daemon(old)
    killed = time.monotonic()
    _, said = sent.communicate(timeout=120)
    print(f"\nthe create sent at the kill: {said.strip() or 'acknowledged'}")
    managers.create("big", BIG, "--constraint", "node.role==worker")
    print(f"the create acknowledged {time.monotonic() - killed:.1f} s after the kill")

    new = wait_for(lambda: managers.another_leader(old), "another leader")
    assert new in lab.managers
    big = wait_for(lambda: managers.converged("big", BIG), f"{BIG} replicas of big", CONVERGED)
    assert sum(len(ids) for ids in big.values()) == BIG
    assert managers.containers("steady") == before
    nodes = managers.nodes()
    assert all(nodes[h.name]["Status"] == "Ready" for h in managers.agents)
    assert nodes[old.name]["ManagerStatus"] == "Unreachable"

    lab.start_manager(old)
    wait_for(managers.settled, "the killed manager back, as a follower", 120)
    assert managers.leader() is new
    assert managers.containers("steady") == before


def test_leader_cut_off_from_etcd_steps_down_and_rejoins(managers: Managers) -> None:
    """netfilter in the leader's namespace drops its packets to etcd: it stops leading before
    another manager begins to, and once the link is back it follows the new leader."""
    lab = managers.lab
    old = wait_for(managers.leader, "a leader")
    others = [h for h in lab.managers if h is not old]
    rule = ["OUTPUT", "-p", "tcp", "--dport", "2379", "-j", "DROP"]
    iptables = ["ip", "netns", "exec", old.netns, "iptables", "-w"]
    cut = datetime.now(UTC)
    run(*iptables, "-I", *rule)
    try:
        new = wait_for(
            lambda: next((h for h in others if managers.leader(h) is h), None),
            "another manager to lead",
            60,
        )
        stepped_down = wait_for(
            lambda: _logged(old, "no longer leading the cluster", cut),
            "the old leader to step down",
        )
        began = _logged(new, "leading the cluster", cut)
        assert began
        assert stepped_down[0] < began[0]
        managers.create("while-cut", 2)
    finally:
        run(*iptables, "-D", *rule)
    wait_for(lambda: managers.leader(old) is new, "the old leader to follow the new one", 60)
    wait_for(managers.settled, "every manager Reachable again", 120)
    # A write through the old leader is forwarded to the new one.
    done = managers.shoal("service", "scale", "-d", "while-cut=3", host=old)
    assert done.returncode == 0, done.stderr
    managers.acknowledged["while-cut"] = 3
    wait_for(lambda: managers.converged("while-cut", 3), "while-cut scaled", CONVERGED)


def test_one_etcd_member_killed_then_every_manager_restarted(managers: Managers) -> None:
    """The cluster goes on with two etcd members; all three managers restarted come back to
    the same services and the same containers."""
    lab, etcd = managers.lab, managers.etcd
    member = wait_for(etcd.leader, "an etcd leader")
    etcd.kill(member)
    try:
        managers.create("two-members", 3)
        wait_for(lambda: managers.converged("two-members", 3), "two-members running", CONVERGED)
    finally:
        etcd.start(member)
    wait_for(lambda: etcd.healthy(etcd.members), "the etcd member back", 60)

    services = sorted((s["ID"], s["Name"], s["Replicas"]) for s in managers.services())
    running = {name: managers.containers(name) for name in managers.acknowledged}
    for host in lab.managers:
        lab.kill_daemon(host)
    for host in lab.managers:
        lab.start_manager(host)
    wait_for(managers.settled, "the managers back, one leading", 120)
    assert sorted((s["ID"], s["Name"], s["Replicas"]) for s in managers.services()) == services
    assert {name: managers.containers(name) for name in managers.acknowledged} == running


def test_every_acknowledged_write_is_there(managers: Managers) -> None:
    """Each service a manager acknowledged, through every fault above, with its replicas."""
    assert managers.acknowledged
    for name, replicas in managers.acknowledged.items():
        wait_for(lambda: managers.converged(name, replicas), f"{name} at {replicas}", CONVERGED)  # noqa: B023
