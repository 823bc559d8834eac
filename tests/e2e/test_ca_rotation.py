"""`shoal ca --rotate` in the lab: five hosts, three managers on etcd (h1-h3) and two agents
(h4-h5), the lab shape test_managers_failover.py uses. Every node moves onto the new CA with
its containers untouched, and afterwards certificates of the old root and of a foreign CA are
refused."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from common import pki
from common.tls import Bundle
from manager.ca import ClusterCA
from tests.managers_lab import CONVERGED, Managers
from tests.waiting import wait_for

pytestmark = pytest.mark.etcd


def _foreign_bundle(directory: Path, cluster_id: str, roots: bytes) -> Path:
    """An admin certificate naming this cluster, from a CA the cluster never had; it trusts
    the cluster's roots, so that the client gets as far as presenting it."""
    issued = ClusterCA.create(cluster_id).issue_with_key(
        "admin", pki.ROLE_ADMIN, cluster_id, timedelta(hours=1)
    )
    Bundle(roots, pki.cert_pem(issued.cert), pki.key_pem(issued.key)).save(directory)
    return directory


# The lab is shared with the other modules on it: a name of its own, removed at the end.
SERVICE = "rotation-steady"


def test_five_nodes_move_onto_a_new_ca_with_their_containers(managers: Managers) -> None:
    try:
        _rotate_five_nodes(managers)
    finally:
        managers.shoal("service", "rm", SERVICE)
        managers.acknowledged.pop(SERVICE, None)
        wait_for(lambda: not any(managers.containers(SERVICE).values()), "its containers gone")


def _rotate_five_nodes(managers: Managers) -> None:
    lab = managers.lab
    wait_for(managers.settled, "3 managers and 2 agents, all Ready", CONVERGED)
    managers.create(SERVICE, 5)
    before = wait_for(lambda: managers.converged(SERVICE, 5), "5 replicas", CONVERGED)
    assert {n["TLSStatus"] for n in managers.nodes().values()} == {"Ready"}
    admin = lab.manager.state_dir / "admin"
    old_admin = lab.root / "old-admin"
    shutil.copytree(admin, old_admin)

    rotated = managers.shoal("ca", "--rotate", "--timeout", "150s")

    assert rotated.returncode == 0, rotated.stderr
    assert "rotated: 5/5 nodes" in rotated.stderr
    (new_root,) = pki.load_certs(rotated.stdout.encode())
    nodes = managers.nodes()
    assert {n["TLSStatus"] for n in nodes.values()} == {"Ready"}, nodes
    assert all(n["Status"] == "Ready" for n in nodes.values())
    for host in lab.hosts:
        # Each node's own certificate is of the new root; the agents' and the managers' nodes.
        node_dir = host.state_dir / "node" if host in lab.managers else host.state_dir
        assert pki.issued_by(pki.load_cert(Bundle.load(node_dir).cert_pem), new_root), host.name
    assert managers.containers(SERVICE) == before

    cluster_id = Bundle.load(admin).subject.cluster_id
    foreign = _foreign_bundle(lab.root / "foreign-admin", cluster_id, rotated.stdout.encode())
    for refused in (old_admin, foreign):
        done = lab.shoal("--config", str(refused), "node", "ls")
        assert done.returncode == 1, refused.name
    assert lab.shoal("node", "ls").returncode == 0
