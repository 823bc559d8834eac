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
from datetime import UTC, datetime

import pytest

from tests.lab_host import BIN, Host, run
from tests.managers_lab import CONVERGED, IMAGE, Managers
from tests.waiting import SLEEPER, wait_for

pytestmark = pytest.mark.etcd

BIG = 20


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
    lab.start_managers(list(lab.managers))
    wait_for(managers.settled, "the managers back, one leading", 120)
    assert sorted((s["ID"], s["Name"], s["Replicas"]) for s in managers.services()) == services
    assert {name: managers.containers(name) for name in managers.acknowledged} == running


def test_every_acknowledged_write_is_there(managers: Managers) -> None:
    """Each service a manager acknowledged, through every fault above, with its replicas."""
    assert managers.acknowledged
    for name, replicas in managers.acknowledged.items():
        wait_for(lambda: managers.converged(name, replicas), f"{name} at {replicas}", CONVERGED)  # noqa: B023
