"""Adding a manager to a cluster on etcd: `manager join` receives a manager certificate, the
store's URL and the keys managers share over its join, then serves Control and runs its own
node; a restart resumes it from its state dir. The wrong tokens are refused with one line and
leave nothing behind."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.cluster import BIN, DEADLINE, HEARTBEAT, Cluster, Daemon, free_port
from tests.waiting import wait_for

pytestmark = pytest.mark.etcd


@pytest.fixture(scope="module")
def cluster(
    engine: docker.APIClient, etcd_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    c = Cluster(
        root=tmp_path_factory.mktemp("managers"),
        port=free_port(),
        engine=engine,
        manager_args=["--store", f"etcd://{etcd_endpoint}/it-{uuid.uuid4().hex[:12]}"],
    )
    try:
        c.start_manager()
        yield c
    finally:
        c.stop()


@dataclass
class Joined:
    daemon: Daemon
    port: int
    state_dir: Path
    env: dict[str, str]

    def shoal(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "shoal"), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=DEADLINE,
        )

    def nodes(self) -> list[dict[str, Any]]:
        listed = self.shoal("node", "ls", "--format", "json")
        if listed.returncode != 0:
            return []
        return [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]


def manager_argv(command: str, state_dir: Path, port: int, *before: str) -> list[str]:
    return [
        str(BIN / "manager"),
        command,
        *before,
        "--listen",
        f"127.0.0.1:{port}",
        "--advertise",
        "127.0.0.1",
        "--state-dir",
        str(state_dir),
        "--hostname",
        "it-manager-2",
        "--heartbeat-period",
        str(HEARTBEAT),
        # Not the default 2376: other managers on this host's loopback may hold it.
        "--docker-api-addr",
        f"127.0.0.1:{free_port()}",
    ]


def refused(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=DEADLINE)
    assert done.returncode == 1, done
    [line] = done.stderr.splitlines()
    return line


@pytest.fixture(scope="module")
def joined(cluster: Cluster) -> Joined:
    token = cluster.ok("join-token", "manager", "-q").out.strip()
    port = free_port()
    state_dir = cluster.root / "manager-2"
    daemon = Daemon(
        "manager-2",
        manager_argv("join", state_dir, port, token, cluster.addr),
        cluster.root / "manager-2.log",
    )
    env = {
        **cluster.env,
        "SHOAL_HOST": f"127.0.0.1:{port}",
        "SHOAL_CONFIG": str(state_dir / "admin"),
    }
    daemon.start(env)
    cluster.agents.append(daemon)  # stopped, and its containers removed, with the cluster
    return Joined(daemon, port, state_dir, env)


def test_join_token_manager_prints_manager_join(cluster: Cluster) -> None:
    printed = cluster.ok("join-token", "manager").out
    token = cluster.ok("join-token", "manager", "-q").out.strip()
    assert f"    manager join {token} {cluster.addr}\n" in printed


def test_a_joined_manager_serves_and_its_node_is_ready(cluster: Cluster, joined: Joined) -> None:
    """It answers Control with the admin bundle it made, sees the first manager's nodes (one
    store), and its own node is a Ready manager, listed by the first manager too."""
    wait_for(
        lambda: {n["Hostname"]: n["Status"] for n in joined.nodes()}.get("it-manager-2") == "Ready",
        "the joined manager's node to be Ready",
        timeout=DEADLINE,
    )
    hostnames = {n["Hostname"] for n in joined.nodes()}
    assert hostnames == {"it-manager", "it-manager-2"}
    inspected = json.loads(cluster.ok("node", "inspect", "it-manager-2").out)
    assert inspected[0]["Spec"]["Role"] == "manager"


def test_a_node_joins_through_the_manager_that_does_not_lead(
    cluster: Cluster, joined: Joined
) -> None:
    """`agent join` given a follower's address: the follower passes the join on to the
    leader, and the node joins and turns Ready."""

    def follower() -> str | None:
        statuses = {n["Hostname"]: n["ManagerStatus"] for n in joined.nodes()}
        if sorted(statuses.values()) != ["Leader", "Reachable"]:
            return None
        return cluster.addr if statuses["it-manager"] == "Reachable" else f"127.0.0.1:{joined.port}"

    addr = wait_for(follower, "a leader and a reachable follower", timeout=DEADLINE)
    token = cluster.ok("join-token", "worker", "-q").out.strip()
    agent = Daemon(
        "agent-via-follower",
        [
            str(BIN / "agent"), "join", token, addr,
            "--state-dir", str(cluster.root / "agent-via-follower"),
            "--hostname", "it-via-follower",
        ],
        cluster.root / "agent-via-follower.log",
    )  # fmt: skip
    agent.start(cluster.env)
    try:
        wait_for(
            lambda: (
                {n["Hostname"]: n["Status"] for n in cluster.nodes()}.get("it-via-follower")
                == "Ready"
            ),
            "the node joined through the follower to be Ready",
            timeout=DEADLINE,
        )
    finally:
        # The tests below count the managers' two nodes.
        agent.kill()
        cluster.ok("node", "rm", "--force", "it-via-follower")


def test_the_join_hands_over_the_shared_keys_into_the_state_dir(
    cluster: Cluster, joined: Joined
) -> None:
    """Same CA and data key as the first manager, the store URL kept, all 0600; the token is in
    no command line (the process went on as `manager serve`), and no key in any log."""
    wait_for(lambda: (joined.state_dir / "node" / "identity.json").exists(), "the join")
    first = cluster.root / "manager"
    for name in ("ca/ca.pem", "ca/ca-key.pem", "keys/data.key"):
        assert (joined.state_dir / name).read_bytes() == (first / name).read_bytes(), name
    for name in ("ca/ca-key.pem", "keys/data.key", "store-url", "node/key.pem"):
        assert (joined.state_dir / name).stat().st_mode & 0o777 == 0o600, name
    assert (joined.state_dir / "store-url").read_text().startswith("etcd://")
    assert joined.daemon.proc is not None
    cmdline = Path(f"/proc/{joined.daemon.proc.pid}/cmdline").read_bytes().split(b"\0")
    assert b"serve" in cmdline
    token = cluster.ok("join-token", "manager", "-q").out.strip()
    assert token.encode() not in b" ".join(cmdline)
    data_key = (first / "keys" / "data.key").read_bytes()
    logs = cluster.manager.log_text() + joined.daemon.log_text() + joined.daemon.out.read_text()
    assert "PRIVATE KEY" not in logs
    assert data_key.hex() not in logs
    assert token not in logs


def test_a_restarted_joined_manager_resumes_from_its_state_dir(
    cluster: Cluster, joined: Joined
) -> None:
    """`manager serve --state-dir` without --store: the same node, on the same store."""
    wait_for(lambda: len(joined.nodes()) == 2, "the joined manager to answer")
    node_id = json.loads((joined.state_dir / "node" / "identity.json").read_text())["node_id"]
    joined.daemon.kill(signal.SIGTERM)
    joined.daemon.argv = manager_argv("serve", joined.state_dir, joined.port)
    joined.daemon.start(joined.env)

    def resumed() -> dict[str, tuple[str, str]] | None:
        seen = {n["Hostname"]: (n["ID"], n["Status"]) for n in joined.nodes()}
        return seen if seen.get("it-manager-2") == (node_id, "Ready") else None

    # Each `shoal` run takes seconds on a loaded machine: a generous deadline.
    wait_for(resumed, "the resumed manager's node to be Ready again", timeout=2 * DEADLINE)
    assert len(joined.nodes()) == 2


def test_a_manager_token_given_to_agent_join_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    token = cluster.ok("join-token", "manager", "-q").out.strip()
    state = tmp_path / "agent"
    line = refused(
        [str(BIN / "agent"), "join", token, cluster.addr, "--state-dir", str(state)],
        cluster.env,
    )
    assert "`manager join TOKEN ADDR`" in line
    assert token not in line
    assert not (state / "identity.json").exists()


@pytest.mark.parametrize("which", ["worker", "malformed"])
def test_manager_join_with_a_wrong_token_leaves_nothing(
    cluster: Cluster, tmp_path: Path, which: str
) -> None:
    token = (
        cluster.ok("join-token", "worker", "-q").out.strip()
        if which == "worker"
        else "SHOAL-1-nope"
    )
    state = tmp_path / "manager"
    before = len(cluster.nodes())
    line = refused(manager_argv("join", state, free_port(), token, cluster.addr), cluster.env)
    assert ("needs the manager token" if which == "worker" else "malformed join token") in line
    assert not state.exists()
    assert len(cluster.nodes()) == before


def roles(cluster: Cluster) -> dict[str, str]:
    names = [n["Hostname"] for n in cluster.nodes()]
    documents = json.loads(cluster.ok("node", "inspect", *names).out)
    return {d["Description"]["Hostname"]: d["Spec"]["Role"] for d in documents}


def test_demote_and_promote_on_etcd(cluster: Cluster, joined: Joined) -> None:
    """As docker: a manager is demoted and promoted again; the last one is not demoted."""
    wait_for(lambda: len(joined.nodes()) == 2, "the joined manager to answer")
    demoted = cluster.ok("node", "demote", "it-manager-2").out
    assert demoted == "Manager it-manager-2 demoted in the swarm.\n"
    assert roles(cluster) == {"it-manager": "manager", "it-manager-2": "worker"}
    last = cluster.shoal("node", "demote", "it-manager")
    assert (last.code, last.err) == (
        1,
        "Error: attempting to demote the last manager of the cluster\n",
    )
    promoted = cluster.ok("node", "promote", "it-manager-2").out
    assert promoted == "Node it-manager-2 promoted to a manager in the swarm.\n"
    assert roles(cluster) == {"it-manager": "manager", "it-manager-2": "manager"}
    # A manager's own node promoted again is no agent to hand over: its manager serves on.
    wait_for(
        lambda: {n["Hostname"]: n["Status"] for n in joined.nodes()}.get("it-manager-2") == "Ready",
        "the joined manager to serve its node still",
        timeout=2 * DEADLINE,
    )
    assert joined.daemon.alive()


def test_a_manager_that_is_down_is_removed_from_the_manager_set(
    cluster: Cluster, joined: Joined
) -> None:
    """Up, it is not removed even with --force (demote it first, as docker says); once down,
    `node rm` takes it out of the cluster and of the managers."""
    wait_for(lambda: len(joined.nodes()) == 2, "the joined manager to answer")
    up = cluster.shoal("node", "rm", "--force", "it-manager-2")
    assert up.code == 1
    assert "demote it to a worker first" in up.err
    joined.daemon.kill(signal.SIGTERM)
    # The first manager, restarted, counts the node down once it does not come back.
    cluster.manager.kill(signal.SIGTERM)
    cluster.start_manager()
    wait_for(
        lambda: {n["Hostname"]: n["Status"] for n in cluster.nodes()}.get("it-manager-2") == "Down",
        "the stopped manager's node to be Down",
        timeout=2 * DEADLINE,
    )
    assert cluster.ok("node", "rm", "it-manager-2").out == "it-manager-2\n"
    assert roles(cluster) == {"it-manager": "manager"}


def test_a_promoted_agent_host_goes_on_as_a_manager(cluster: Cluster) -> None:
    """`node promote` of an agent's node: its agent hands the host over (same process, same
    node ID) to a manager that serves Control with its own admin bundle and runs the node."""
    port = free_port()
    manager_dir = cluster.root / "agent-1-manager"
    agent = cluster.add_agent(
        1,
        "--manager-listen", f"127.0.0.1:{port}",
        "--manager-advertise", "127.0.0.1",
        "--manager-state-dir", str(manager_dir),
    )  # fmt: skip
    wait_for(
        lambda: {n["Hostname"]: n["Status"] for n in cluster.nodes()}.get("it-agent-1") == "Ready",
        "the agent's node to be Ready",
        timeout=2 * DEADLINE,
    )
    agent_dir = cluster.root / "agent-1"
    node_id = json.loads((agent_dir / "identity.json").read_text())["node_id"]
    promoted = cluster.ok("node", "promote", "it-agent-1").out
    assert promoted == "Node it-agent-1 promoted to a manager in the swarm.\n"
    env = {
        **cluster.env,
        "SHOAL_HOST": f"127.0.0.1:{port}",
        "SHOAL_CONFIG": str(manager_dir / "admin"),
    }

    def own_node() -> tuple[str, str] | None:
        if not (manager_dir / "admin" / "key.pem").exists():
            return None
        listed = subprocess.run(
            [str(BIN / "shoal"), "node", "ls", "--format", "json"],
            capture_output=True, text=True, env=env, timeout=DEADLINE,
        )  # fmt: skip
        nodes = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        mine = [(n["ID"], n["Status"]) for n in nodes if n["Self"]]
        return mine[0] if mine else None

    wait_for(
        lambda: own_node() == (node_id, "Ready"),
        "the promoted host's manager to serve its own node",
        timeout=2 * DEADLINE,
    )
    assert agent.alive()
    assert agent.proc is not None
    cmdline = Path(f"/proc/{agent.proc.pid}/cmdline").read_bytes().split(b"\0")
    assert b"serve" in cmdline
    assert not (agent_dir / "identity.json").exists()
    kept = json.loads((manager_dir / "node" / "identity.json").read_text())
    assert kept["node_id"] == node_id
    assert roles(cluster)["it-agent-1"] == "manager"
