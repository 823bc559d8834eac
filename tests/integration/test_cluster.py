"""A manager and two agents on a real engine: services become labelled containers and stay so."""

from __future__ import annotations

import json

import pytest

from tests.integration.cluster import Cluster
from tests.waiting import SLEEPER, wait_for

LABELS = (
    "shoal.node.id",
    "shoal.service.id",
    "shoal.service.name",
    "shoal.task.id",
    "shoal.task.slot",
)


def _create(cluster: Cluster, name: str, replicas: int, *command: str) -> str:
    argv = [
        "service",
        "create",
        "-d",
        "--name",
        name,
        "--replicas",
        str(replicas),
        "local/busybox:latest",
    ]
    return cluster.ok(*argv, *(command or SLEEPER)).out.strip()


def _remove(cluster: Cluster, name: str) -> None:
    cluster.ok("service", "rm", name)
    wait_for(lambda: not cluster.containers(name, running=False), f"{name}'s containers to go")


def _slots(containers: list[dict[str, object]]) -> dict[str, str]:
    """slot -> container ID."""
    result = {}
    for c in containers:
        labels = c["Labels"]
        assert isinstance(labels, dict)
        result[labels["shoal.task.slot"]] = str(c["Id"])
    return result


class TestServiceLifecycle:
    def test_create_runs_labelled_containers_spread_over_nodes(self, cluster: Cluster) -> None:
        """3 replicas become 3 running containers, one per node, each with the Shoal labels."""
        service_id = _create(cluster, "web", 3)
        running = wait_for(lambda: cluster.running("web", 3), "3 running containers")
        node_ids = {n["ID"] for n in cluster.nodes()}
        assert {c["Labels"]["shoal.node.id"] for c in running} == node_ids
        assert sorted(c["Labels"]["shoal.task.slot"] for c in running) == ["1", "2", "3"]
        for c in running:
            assert all(key in c["Labels"] for key in LABELS)
            assert c["Labels"]["shoal.service.id"] == service_id
            assert c["Labels"]["shoal.service.name"] == "web"
        listing = cluster.ok("service", "ls", "--format", "json").json_lines()
        assert [(s["Name"], s["Replicas"]) for s in listing] == [("web", "3/3")]
        _remove(cluster, "web")

    def test_logs_are_json_lines_with_the_ids_they_concern(self, cluster: Cluster) -> None:
        """Daemon logs are JSON lines; a task's lines carry its node, service and task IDs."""
        service_id = _create(cluster, "logged", 3)
        wait_for(lambda: cluster.running("logged", 3), "3 running")
        records = [
            json.loads(line)
            for line in cluster.agents[0].log_text().splitlines()
            if line.startswith("{")
        ]
        ours = [r for r in records if r.get("service_id") == service_id]
        assert ours, "no log line about the service's task"
        node_id = next(n["ID"] for n in cluster.nodes() if n["Hostname"] == "it-agent-1")
        for record in ours:
            assert record["node_id"] == node_id
            assert record["task_id"]
            assert record["level"] in {"debug", "info", "warning", "error"}
        _remove(cluster, "logged")

    def test_scale_up_then_down(self, cluster: Cluster) -> None:
        """scale to 5 runs 5 containers; scale to 1 leaves exactly one running."""
        _create(cluster, "scaled", 2)
        wait_for(lambda: cluster.running("scaled", 2), "2 running")
        assert cluster.ok("service", "scale", "-d", "scaled=5").out.strip() == "scaled scaled to 5"
        running = wait_for(lambda: cluster.running("scaled", 5), "5 running")
        assert sorted(c["Labels"]["shoal.task.slot"] for c in running) == ["1", "2", "3", "4", "5"]
        cluster.ok("service", "scale", "-d", "scaled=1")
        wait_for(lambda: cluster.running("scaled", 1), "1 running")
        listing = cluster.ok("service", "ls", "--format", "json").json_lines()
        assert [s["Replicas"] for s in listing if s["Name"] == "scaled"] == ["1/1"]
        _remove(cluster, "scaled")

    def test_rm_removes_every_container(self, cluster: Cluster) -> None:
        """service rm stops and removes every container of the service, running or exited."""
        _create(cluster, "doomed", 3)
        wait_for(lambda: cluster.running("doomed", 3), "3 running")
        assert cluster.ok("service", "rm", "doomed").out.strip() == "doomed"
        wait_for(lambda: not cluster.containers("doomed", running=False), "no container left")
        assert cluster.shoal("service", "ps", "doomed").code == 1

    def test_killed_container_is_replaced_in_its_slot(self, cluster: Cluster) -> None:
        """A container killed behind Shoal's back is replaced by a new task in the same slot."""
        _create(cluster, "phoenix", 2)
        before = _slots(wait_for(lambda: cluster.running("phoenix", 2), "2 running"))
        cluster.engine.kill(before["2"])

        def replaced() -> dict[str, str] | None:
            now = _slots(cluster.containers("phoenix"))
            return now if len(now) == 2 and now["2"] != before["2"] else None

        after = wait_for(replaced, "slot 2 to run a new container")
        assert after["1"] == before["1"]
        tasks = cluster.tasks("phoenix")
        slot2 = [t for t in tasks if t["Name"] == "phoenix.2"]
        assert [t["DesiredState"] for t in slot2] == ["Running", "Shutdown"]
        assert "non-zero exit (137)" in slot2[1]["Error"]
        _remove(cluster, "phoenix")

    def test_container_that_exits_is_reported_and_replaced(self, cluster: Cluster) -> None:
        """A task whose process exits 3 shows as Failed with its exit code, and comes back."""
        _create(cluster, "crasher", 1, "sh", "-c", "exit 3")

        def failed_twice() -> list[dict[str, object]] | None:
            failed = [
                t for t in cluster.tasks("crasher") if str(t["CurrentState"]).startswith("Failed")
            ]
            return failed if len(failed) >= 2 else None

        failed = wait_for(failed_twice, "two failed tasks in slot 1")
        assert all(t["Name"] == "crasher.1" for t in failed)
        assert "task: non-zero exit (3)" in str(failed[0]["Error"])
        _remove(cluster, "crasher")


@pytest.mark.parametrize(
    "argv",
    [
        ["service", "ps", "ghost"],
        ["service", "inspect", "ghost"],
        ["service", "rm", "ghost"],
        ["service", "scale", "-d", "ghost=2"],
    ],
)
def test_unknown_service_is_one_line_exit_1(cluster: Cluster, argv: list[str]) -> None:
    """A service that doesn't exist: one line on stderr, exit code 1."""
    result = cluster.shoal(*argv)
    assert result.code == 1
    assert result.err.strip().count("\n") == 0
    assert "ghost" in result.err


class TestRestartPolicy:
    def _settled(self, cluster: Cluster, name: str) -> list[dict[str, object]] | None:
        """The tasks, once every one that ended has been handled (desired Shutdown)."""
        tasks = cluster.tasks(name)
        ended = [
            t
            for t in tasks
            if not str(t["CurrentState"]).startswith(
                ("Running", "Pending", "Assigned", "Preparing", "Starting")
            )
        ]
        if not ended or any(t["DesiredState"] != "Shutdown" for t in ended):
            return None
        return tasks

    def test_condition_none_runs_once(self, cluster: Cluster) -> None:
        """--restart-condition none: a task that fails is not replaced."""
        argv = ["service", "create", "-d", "--name", "once", "--restart-condition", "none"]
        cluster.ok(*argv, "local/busybox:latest", "sh", "-c", "exit 1")
        tasks = wait_for(lambda: self._settled(cluster, "once"), "the failure to be handled")
        assert [str(t["CurrentState"]).split()[0] for t in tasks] == ["Failed"]
        _remove(cluster, "once")

    def test_on_failure_leaves_a_clean_exit_alone(self, cluster: Cluster) -> None:
        """--restart-condition on-failure: exit 0 completes the slot for good."""
        argv = ["service", "create", "-d", "--name", "clean", "--restart-condition", "on-failure"]
        cluster.ok(*argv, "local/busybox:latest", "true")
        tasks = wait_for(lambda: self._settled(cluster, "clean"), "the exit to be handled")
        assert [str(t["CurrentState"]).split()[0] for t in tasks] == ["Complete"]
        _remove(cluster, "clean")

    def test_max_attempts_gives_up_and_says_why(self, cluster: Cluster) -> None:
        """--restart-max-attempts 2: the first run and two restarts, then ps says it gave up."""
        argv = ["service", "create", "-d", "--name", "quitter", "--restart-max-attempts", "2"]
        cluster.ok(*argv, "--restart-delay", "100ms", "local/busybox:latest", "sh", "-c", "exit 1")

        def gave_up() -> list[dict[str, object]] | None:
            tasks = cluster.tasks("quitter")
            return (
                tasks if any("gave up after 2 restarts" in str(t["Error"]) for t in tasks) else None
            )

        tasks = wait_for(gave_up, "the policy to give up")
        assert len(tasks) == 3
        assert all(t["DesiredState"] == "Shutdown" for t in tasks)
        listing = cluster.ok("service", "ls", "--format", "json").json_lines()
        assert [s["Replicas"] for s in listing if s["Name"] == "quitter"] == ["0/1"]
        _remove(cluster, "quitter")


def test_drain_a_node_and_bring_it_back(cluster: Cluster) -> None:
    """node update --availability drain moves an agent's replicas away; node inspect and node ps
    show it; active again, it takes new work; labels are added and removed."""
    _create(cluster, "movers", 3)
    wait_for(lambda: cluster.running("movers", 3), "3 running")
    node_id = next(n["ID"] for n in cluster.nodes() if n["Hostname"] == "it-agent-2")
    assert (
        cluster.ok("node", "update", "--availability", "drain", "it-agent-2").out.strip()
        == "it-agent-2"
    )

    def moved() -> bool:
        on_it = [c for c in cluster.containers("movers") if c["Labels"]["shoal.node.id"] == node_id]
        return not on_it and len(cluster.containers("movers")) == 3

    wait_for(moved, "it-agent-2 emptied, 3 still running")
    [doc] = json.loads(cluster.ok("node", "inspect", "it-agent-2").out)
    assert doc["Spec"]["Availability"] == "drain"
    shut = [
        t
        for t in cluster.ok("node", "ps", "it-agent-2", "--format", "json").json_lines()
        if t["Name"].startswith("movers")
    ]
    assert shut
    assert all(t["DesiredState"] == "Shutdown" for t in shut)
    cluster.ok("node", "update", "--availability", "active", "--label-add", "zone=b", "it-agent-2")
    [doc] = json.loads(cluster.ok("node", "inspect", "it-agent-2").out)
    assert (doc["Spec"]["Availability"], doc["Spec"]["Labels"]) == ("active", {"zone": "b"})
    cluster.ok("node", "update", "--label-rm", "zone", "it-agent-2")
    [doc] = json.loads(cluster.ok("node", "inspect", "it-agent-2").out)
    assert doc["Spec"]["Labels"] == {}
    _remove(cluster, "movers")


class TestPlacement:
    def test_limits_reach_the_container(self, cluster: Cluster) -> None:
        """--limit-memory and --limit-cpu become the container's own limits."""
        argv = [
            "service",
            "create",
            "-d",
            "--name",
            "capped",
            "--limit-memory",
            "64m",
            "--limit-cpu",
            "0.5",
        ]
        cluster.ok(*argv, "local/busybox:latest", *SLEEPER)
        [container] = wait_for(lambda: cluster.running("capped", 1), "1 running")
        host = cluster.engine.inspect_container(container["Id"])["HostConfig"]
        assert (host["Memory"], host["NanoCpus"]) == (64 << 20, 500_000_000)
        _remove(cluster, "capped")

    def test_an_unplaceable_task_says_why(self, cluster: Cluster) -> None:
        """A reservation no node can meet leaves the task pending, and ps --no-trunc says why."""
        cluster.ok(
            "service",
            "create",
            "-d",
            "--name",
            "greedy",
            "--reserve-memory",
            "100000g",
            "local/busybox:latest",
        )

        def reason() -> str | None:
            tasks = cluster.tasks("greedy")
            return str(tasks[0]["Error"]) if tasks and tasks[0]["Error"] else None

        assert "no suitable node (insufficient memory on 3 nodes)" in wait_for(reason, "a reason")
        assert str(cluster.tasks("greedy")[0]["CurrentState"]).startswith("Pending")
        cluster.ok("service", "rm", "greedy")


def test_a_constrained_task_waits_for_a_label_then_runs_there(cluster: Cluster) -> None:
    """Constrained to node.labels.zone==b with no such node: pending with the reason; the label
    on it-agent-1 places it there at once; with the label removed, no node fits, so the task
    leaves it-agent-1 and waits again, saying why."""
    cluster.ok(
        "service", "create", "-d", "--name", "zoned", "--constraint", "node.labels.zone==b",
        "local/busybox:latest", *SLEEPER,
    )  # fmt: skip
    reason = "no suitable node (constraint node.labels.zone==b excluded 3 nodes)"

    def pending_with(why: str) -> bool:
        return any(t["Error"] == f'"{why}"' and t["DesiredState"] == "Running"
                   for t in cluster.tasks("zoned"))  # fmt: skip

    wait_for(lambda: pending_with(reason), "the pending reason")
    cluster.ok("node", "update", "--label-add", "zone=b", "it-agent-1")
    [doc] = json.loads(cluster.ok("node", "inspect", "it-agent-1").out)
    [container] = wait_for(lambda: cluster.running("zoned", 1), "the task running")
    assert container["Labels"]["shoal.node.id"] == doc["ID"]
    cluster.ok("node", "update", "--label-rm", "zone", "it-agent-1")
    wait_for(lambda: not cluster.containers("zoned"), "the task leaving it-agent-1")
    wait_for(lambda: pending_with(reason), "the reason again")
    cluster.ok("service", "rm", "zoned")


def test_dry_run_exits_2_with_the_reason_and_creates_nothing(cluster: Cluster) -> None:
    """service create --dry-run with an unmet constraint: the reason, exit 2, no service."""
    result = cluster.shoal(
        "service", "create", "--dry-run", "--name", "dry", "--constraint", "node.labels.none==x",
        "local/busybox:latest",
    )  # fmt: skip
    assert result.code == 2
    assert "dry.1: no suitable node (constraint node.labels.none==x excluded 3 nodes)" in result.out
    assert cluster.shoal("service", "ps", "dry").code == 1
