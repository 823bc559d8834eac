"""Trust with real processes: files on disk, secrets kept out of logs, removal and rejoining."""

from __future__ import annotations

import signal
import stat
import subprocess
from pathlib import Path

from tests.integration.cluster import BIN, Cluster
from tests.waiting import SLEEPER, wait_for


def _status(cluster: Cluster, hostname: str) -> str | None:
    return next((n["Status"] for n in cluster.nodes() if n["Hostname"] == hostname), None)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_and_state_dirs_are_private(cluster: Cluster) -> None:
    """Every key file is 0600 and every directory holding one is 0700."""
    keys = [
        *sorted((cluster.root / "manager").rglob("*key*.pem")),
        *sorted((cluster.root / "agent-1").rglob("key.pem")),
    ]
    names = {str(k.relative_to(cluster.root)) for k in keys}
    assert {
        "manager/ca/ca-key.pem",
        "manager/tls/key.pem",
        "manager/admin/key.pem",
        "manager/node/key.pem",
        "agent-1/key.pem",
    } <= names
    for key in keys:
        assert _mode(key) == 0o600, key
        assert _mode(key.parent) == 0o700, key.parent
    assert _mode(cluster.root / "manager") == 0o700


def test_logs_hold_no_token_secret_and_no_key_material(cluster: Cluster) -> None:
    """After joins and a rotation, no daemon log line carries a secret, a key or a CSR."""
    old = cluster.ok("join-token", "worker", "-q").out.strip()
    rotated = cluster.ok("join-token", "--rotate", "worker", "-q").out.strip()
    assert rotated != old
    manager_secret = cluster.ok("join-token", "manager", "-q").out.strip().split("-")[-1]
    logs = "".join(d.log_text() for d in [cluster.manager, *cluster.agents])
    assert "joined" in logs
    assert "join token rotated" in logs
    for secret in (old.split("-")[-1], rotated.split("-")[-1], manager_secret):
        assert secret not in logs
    for marker in ("PRIVATE KEY", "CERTIFICATE REQUEST", "BEGIN CERTIFICATE"):
        assert marker not in logs


def test_old_token_is_refused_after_rotation(cluster: Cluster, tmp_path: Path) -> None:
    """agent join with a rotated-away token: one line, exit 1; the new token still joins."""
    old = cluster.ok("join-token", "worker", "-q").out.strip()
    cluster.ok("join-token", "--rotate", "worker")
    done = subprocess.run(
        [str(BIN / "agent"), "join", old, cluster.addr, "--state-dir", str(tmp_path / "a")],
        capture_output=True,
        text=True,
        timeout=30,
        env=cluster.env,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: invalid join token"
    assert not (tmp_path / "a" / "identity.json").exists()


def test_removed_node_must_join_again(cluster: Cluster) -> None:
    """node rm of a stopped agent: it is gone from node ls, and `agent run` on its old state
    is refused with one line and exit 1."""
    index = len(cluster.agents) + 1
    agent = cluster.add_agent(index)
    hostname = f"it-agent-{index}"
    wait_for(lambda: _status(cluster, hostname) == "Ready", "the new agent ready")
    assert cluster.shoal("node", "rm", hostname).code == 1  # still up: needs --force
    agent.kill(signal.SIGKILL)
    wait_for(lambda: _status(cluster, hostname) == "Down", "the agent down")
    cluster.ok("node", "rm", hostname)
    assert hostname not in {n["Hostname"] for n in cluster.nodes()}
    cluster.agents.remove(agent)
    resumed = subprocess.run(
        [str(BIN / "agent"), "run", "--state-dir", str(cluster.root / f"agent-{index}")],
        capture_output=True,
        text=True,
        timeout=60,
        env=cluster.env,
    )
    assert resumed.returncode == 1
    lines = [line for line in resumed.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1
    assert "was removed from the cluster" in lines[0]


def test_a_node_removed_while_running_clears_its_host_and_stops(cluster: Cluster) -> None:
    """node rm --force of a node whose agent runs: the agent removes its containers, forgets
    its identity and exits 1 with one line."""
    index = 91
    agent = cluster.add_agent(index)
    hostname = f"it-agent-{index}"
    wait_for(lambda: _status(cluster, hostname) == "Ready", "the new agent ready")
    node_id = next(n["ID"] for n in cluster.nodes() if n["Hostname"] == hostname)
    cluster.ok(
        "service", "create", "-d", "--name", "evicted", "--replicas", "2",
        "--constraint", f"node.hostname=={hostname}", "local/busybox:latest", *SLEEPER,
    )  # fmt: skip
    wait_for(lambda: cluster.running("evicted", 2), "2 running on the doomed node")
    cluster.ok("node", "rm", "--force", hostname)
    assert agent.proc is not None
    assert agent.proc.wait(timeout=30) == 1
    cluster.agents.remove(agent)
    errors = [line for line in agent.log_text().splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: this node was removed from the cluster; its containers are gone:"
        " join it again with a token"
    ]
    ours = cluster.engine.containers(all=True, filters={"label": f"shoal.node.id={node_id}"})
    assert ours == []
    state = cluster.root / f"agent-{index}"
    assert not (state / "identity.json").exists()
    assert not (state / "cert.pem").exists()
    cluster.ok("service", "rm", "evicted")


def test_agent_leave_removes_the_node_and_its_containers(cluster: Cluster) -> None:
    """agent leave on a host: the manager removes the node, the host's containers go, the
    service runs its replicas elsewhere, and the agent daemon there stops with one line."""
    # Its own number: an earlier test may have left a state dir under a lower one.
    index = 90
    agent = cluster.add_agent(index)
    hostname = f"it-agent-{index}"
    wait_for(lambda: _status(cluster, hostname) == "Ready", "the new agent ready")
    node_id = next(n["ID"] for n in cluster.nodes() if n["Hostname"] == hostname)
    cluster.ok(
        "service",
        "create",
        "-d",
        "--name",
        "leavers",
        "--replicas",
        "8",
        "local/busybox:latest",
        *SLEEPER,
    )
    wait_for(lambda: cluster.running("leavers", 8), "8 running")
    state = cluster.root / f"agent-{index}"
    done = subprocess.run(
        [str(BIN / "agent"), "leave", "--state-dir", str(state)],
        capture_output=True, text=True, timeout=60, env=cluster.env,
    )  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, "Node left the cluster."), done.stderr
    assert hostname not in {n["Hostname"] for n in cluster.nodes()}
    assert not (state / "identity.json").exists()

    def settled() -> bool:
        running = cluster.containers("leavers")
        return len(running) == 8 and all(c["Labels"]["shoal.node.id"] != node_id for c in running)

    wait_for(settled, "8 replicas on the other nodes")
    assert agent.proc is not None
    assert agent.proc.wait(timeout=30) == 1
    cluster.agents.remove(agent)
    cluster.ok("service", "rm", "leavers")
    wait_for(lambda: not cluster.containers("leavers", running=False), "leavers gone")
