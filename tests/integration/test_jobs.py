"""Run-to-completion jobs on a real engine: a replicated job reaches its completions never running
more than --max-concurrent at once and `service create` exits 0; a failing one exits 3 after its
attempts; a global job completes once per node; `service update --force` runs a job again."""

from __future__ import annotations

from tests.integration.cluster import Cluster
from tests.integration.test_updates import sampled

IMAGE = "local/busybox:latest"


def _ls_replicas(cluster: Cluster, name: str) -> str:
    listed = cluster.ok("service", "ls", "--format", "json").json_lines()
    return str(next(s["Replicas"] for s in listed if s["Name"] == name))


def _states(cluster: Cluster, name: str) -> list[str]:
    return [str(t["CurrentState"]).split()[0] for t in cluster.tasks(name)]


def test_a_replicated_job_runs_five_completions_two_at_a_time(cluster: Cluster) -> None:
    with sampled(lambda: len(cluster.containers("batch"))) as samples:
        created = cluster.shoal(
            "service", "create", "--name", "batch", "--mode", "replicated-job",
            "--replicas", "5", "--max-concurrent", "2", IMAGE, "sleep", "1",
            timeout=120,
        )  # fmt: skip
    assert created.code == 0, created.err
    assert "job progress: 5/5 completed" in created.out
    assert created.out.rstrip().endswith("verify: Job complete")
    assert max(samples) == 2
    assert _states(cluster, "batch") == ["Complete"] * 5
    assert _ls_replicas(cluster, "batch") == "0/0 (5/5 completed)"
    # A completed job is waited for no longer: update --force runs it again, to 5 more.
    rerun = cluster.shoal("service", "update", "--force", "batch", timeout=120)
    assert rerun.code == 0, rerun.err
    assert "job progress: 5/5 completed" in rerun.out
    assert _states(cluster, "batch") == ["Complete"] * 10
    cluster.ok("service", "rm", "batch")


def test_a_failing_job_exits_3_after_its_attempts(cluster: Cluster) -> None:
    failed = cluster.shoal(
        "service", "create", "--name", "doomed", "--mode", "replicated-job", "--replicas", "2",
        "--restart-max-attempts", "1", "--restart-delay", "100ms",
        IMAGE, "sh", "-c", "exit 4",
        timeout=120,
    )  # fmt: skip
    assert failed.code == 3, failed.out
    assert failed.err.startswith("Error: job doomed failed:")
    assert len(failed.err.splitlines()) == 1
    assert "Failed" in _states(cluster, "doomed")
    cluster.ok("service", "rm", "doomed")


def test_a_global_job_completes_once_per_node(cluster: Cluster) -> None:
    created = cluster.shoal(
        "service", "create", "--name", "everywhere", "--mode", "global-job", IMAGE, "true",
        timeout=120,
    )  # fmt: skip
    assert created.code == 0, created.err
    assert "job progress: 3/3 completed" in created.out
    tasks = cluster.tasks("everywhere")
    assert sorted(t["Node"] for t in tasks) == ["it-agent-1", "it-agent-2", "it-manager"]
    assert _states(cluster, "everywhere") == ["Complete"] * 3
    assert _ls_replicas(cluster, "everywhere") == "0/0 (3/3 completed)"
    # -d returns at once, and a second wait on a done job does not hang.
    detached = cluster.shoal(
        "service", "create", "-d", "--name", "quick", "--mode", "global-job", IMAGE, "true"
    )
    assert detached.code == 0
    assert detached.out.count("\n") == 1
    cluster.ok("service", "rm", "everywhere", "quick")
