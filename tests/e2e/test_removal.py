"""node rm --force of a lab host whose agent runs, with a task on a cluster network and a
published port: the agent takes everything of Shoal's off its host (containers, routing-mesh
and network rules, VXLAN devices, engine networks), forgets its identity and exits 1 with one
line. The host then joins again, for the tests after this one."""

from __future__ import annotations

import subprocess

from common import identity
from tests.e2e.probes import HTTPD, IMAGE
from tests.e2e.test_networks import create, leftovers, shoal_ok
from tests.lab import Lab
from tests.lab_host import Host
from tests.waiting import wait_for

NETWORK = "removalnet"
SUBNET = "10.152.0.0/16"
GONE = (
    "Error: this node was removed from the cluster; its containers, networks and rules are"
    " gone: join it again with a token"
)


def shoal_rules(host: Host) -> list[str]:
    out = subprocess.run(
        host.inside("iptables-save"), capture_output=True, text=True, check=True, timeout=20
    ).stdout
    return [line for line in out.splitlines() if "SHOAL" in line]


def containers_of(host: Host) -> list[str]:
    with host.engine() as api:
        return [c["Id"] for c in api.containers(all=True, filters={"label": "shoal.node.id"})]


def test_a_host_removed_while_its_agent_runs_keeps_nothing_of_shoal(lab: Lab) -> None:
    h3 = lab.hosts[2]
    shoal_ok(lab, "network", "create", "--subnet", SUBNET, NETWORK)
    create(
        lab, "evicted", "--network", NETWORK, "--constraint", f"node.hostname=={h3.name}",
        "-p", "8093:80", IMAGE, *HTTPD,
    )  # fmt: skip
    try:
        wait_for(lambda: containers_of(h3), "the task running on h3", 60)
        wait_for(lambda: len(leftovers(h3)) > 0, "the network set up on h3", 30)
        wait_for(lambda: any("8093" in r for r in shoal_rules(h3)), "the mesh's port on h3", 30)
        assert h3.daemon is not None
        shoal_ok(lab, "node", "rm", "--force", h3.name)
        assert h3.daemon.wait(timeout=60) == 1
        h3.daemon = None
        errors = [ln for ln in h3.log.read_text().splitlines() if ln.startswith("Error:")]
        assert errors[-1] == GONE
        assert containers_of(h3) == []
        assert leftovers(h3) == []
        assert shoal_rules(h3) == []
        assert identity.load(h3.state_dir) is None
    finally:
        lab.shoal("service", "rm", "evicted")
        if h3.name not in lab.nodes():
            lab.kill_daemon(h3)
            identity.forget(h3.state_dir)
            lab.start_agent(h3)
        wait_for(lambda: lab.ready_nodes() == lab.size, "the lab whole again", 60)
        wait_for(lambda: lab.shoal("network", "rm", NETWORK).returncode == 0, "network removed")
