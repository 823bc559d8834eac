"""`agent hollow` at a small scale: 200 simulated nodes in one process join a real manager, run
2,000 tasks, keep them through a restart of the manager, and come back as the same nodes when the
process is started again without a token."""

from __future__ import annotations

from pathlib import Path

import docker

from tests.integration.cluster import BIN, Cluster, Daemon, free_port
from tests.waiting import wait_for

NODES = 200
TASKS = 2000
# Generous: the joins alone take 8 s at the join port's rate from one address.
CONVERGE = 120.0


def _replicas(cluster: Cluster, name: str) -> str:
    listed = cluster.ok("service", "ls", "--format", "json").json_lines()
    return next((s["Replicas"] for s in listed if s["Name"] == name), "")


def _hollow(cluster: Cluster, root: Path, *join: str) -> Daemon:
    argv = [str(BIN / "agent"), "hollow", "--count", str(NODES), "--state-dir", str(root)]
    daemon = Daemon(
        "hollow", [*argv, "--hostname-prefix", "hollow-", *join], root.with_suffix(".log")
    )
    daemon.start(cluster.env)
    cluster.agents.append(daemon)
    return daemon


def test_hollow_nodes_join_run_tasks_and_resume(engine: docker.APIClient, tmp_path: Path) -> None:
    """Every hollow node is a Ready node of its own that runs its share of the tasks; started
    again from its state dir without a token, the same nodes come back and run them again."""
    cluster = Cluster(
        root=tmp_path, port=free_port(), engine=engine, manager_args=["--availability", "drain"]
    )
    try:
        cluster.start_manager()
        token = cluster.ok("join-token", "worker", "-q").out.strip()
        hollow = _hollow(cluster, tmp_path / "hollow", token, cluster.addr)
        wait_for(lambda: cluster.all_ready(NODES + 1), f"{NODES} hollow nodes", CONVERGE, 0.5)
        nodes = {n["ID"]: n["Hostname"] for n in cluster.nodes()}
        assert {f"hollow-{i}" for i in range(NODES)} <= set(nodes.values())
        # Joined, the process went on without the token in its command line (same PID).
        assert hollow.proc is not None
        assert token not in Path(f"/proc/{hollow.proc.pid}/cmdline").read_text()

        cluster.ok(
            "service",
            "create",
            "-d",
            "--name",
            "wide",
            "--replicas",
            str(TASKS),
            "local/busybox:latest",
        )
        wait_for(
            lambda: _replicas(cluster, "wide") == f"{TASKS}/{TASKS}",
            "2,000 tasks running",
            CONVERGE,
            0.5,
        )

        # The manager killed and started again: all 200 sessions come back at once, and no
        # node is taken for lost meanwhile, so not one task is started again elsewhere.
        before = {t["ID"]: t["Node"] for t in cluster.tasks("wide")}
        cluster.manager.kill()
        cluster.start_manager()
        wait_for(lambda: cluster.all_ready(NODES + 1), "every node back", CONVERGE, 0.5)
        assert _replicas(cluster, "wide") == f"{TASKS}/{TASKS}"
        assert {t["ID"]: t["Node"] for t in cluster.tasks("wide")} == before

        hollow.kill()
        wait_for(
            lambda: _replicas(cluster, "wide") != f"{TASKS}/{TASKS}",
            "the tasks to be lost",
            CONVERGE,
            0.5,
        )
        _hollow(cluster, tmp_path / "hollow")
        wait_for(lambda: cluster.all_ready(NODES + 1), "the same nodes back", CONVERGE, 0.5)
        assert {n["ID"] for n in cluster.nodes()} == set(nodes)
        wait_for(
            lambda: _replicas(cluster, "wide") == f"{TASKS}/{TASKS}",
            "2,000 tasks running again",
            CONVERGE,
            0.5,
        )
    finally:
        cluster.stop()
