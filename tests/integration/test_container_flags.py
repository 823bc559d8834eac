"""Container settings and health checks on a real engine: what `service create` asks for is what
the containers get, and a health check decides when a task runs and when it is replaced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.cluster import Cluster
from tests.waiting import SLEEPER, wait_for

# FROM scratch with busybox alone: no /tmp, so the health file lives at the root.
IMAGE = "local/busybox:latest"
# Fast checks: a verdict within a fraction of a second.
FAST_HEALTH = ["--health-interval", "200ms", "--health-timeout", "1s"]


def _remove(cluster: Cluster, name: str) -> None:
    cluster.ok("service", "rm", name)
    wait_for(lambda: not cluster.containers(name, running=False), f"{name}'s containers to go")


def _exec(cluster: Cluster, container_id: str, *command: str) -> str:
    run = cluster.engine.exec_create(container_id, list(command))
    output = cluster.engine.exec_start(run["Id"])
    assert isinstance(output, bytes)
    return output.decode().strip()


def _states(cluster: Cluster, name: str) -> list[str]:
    """Each task's current state, newest first within a slot, without the "x ago"."""
    return [str(t["CurrentState"]).split()[0] for t in cluster.tasks(name)]


def _hostname_of(cluster: Cluster, container: dict[str, Any]) -> str:
    node_id = container["Labels"]["shoal.node.id"]
    return next(str(n["Hostname"]) for n in cluster.nodes() if n["ID"] == node_id)


def test_container_settings_reach_the_engine(cluster: Cluster, tmp_path: Path) -> None:
    """Mounts, the rendered hostname, user, workdir, entrypoint, container labels, init,
    read-only root and stop signal are the container's, as the engine reports them."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "hello").write_text("from the host\n")
    cluster.ok(
        "service", "create", "-d", "--name", "shaped",
        "--mount", f"type=bind,src={shared},dst=/data,ro",
        "--mount", "type=tmpfs,dst=/scratch",
        "--hostname", "{{.Service.Name}}-{{.Task.Slot}}-{{.Node.Hostname}}",
        "--user", "1234:5678", "--workdir", "/data",
        "--entrypoint", "sh -c", "--container-label", "team=core",
        "--init", "--read-only", "--stop-signal", "SIGUSR1", "--stop-grace-period", "2s",
        IMAGE, SLEEPER[-1],
    )  # fmt: skip
    [container] = wait_for(lambda: cluster.running("shaped", 1), "1 running")
    attrs = cluster.engine.inspect_container(container["Id"])
    config, host = attrs["Config"], attrs["HostConfig"]
    expected_hostname = f"shaped-1-{_hostname_of(cluster, container)}"
    assert config["Hostname"] == expected_hostname
    assert (config["User"], config["WorkingDir"]) == ("1234:5678", "/data")
    assert (config["Entrypoint"], config["Cmd"]) == (["sh", "-c"], [SLEEPER[-1]])
    assert config["Labels"]["team"] == "core"
    assert config["StopSignal"] == "SIGUSR1"
    assert (host["Init"], host["ReadonlyRootfs"]) == (True, True)
    mounts = {m["Target"]: m for m in host["Mounts"]}
    assert mounts["/data"]["Type"] == "bind"
    assert mounts["/data"]["Source"] == str(shared)
    assert mounts["/data"]["ReadOnly"] is True
    assert mounts["/scratch"]["Type"] == "tmpfs"
    # And inside: the names, the files and the rules are what was asked for.
    assert _exec(cluster, container["Id"], "hostname") == expected_hostname
    assert _exec(cluster, container["Id"], "id", "-u") == "1234"
    assert _exec(cluster, container["Id"], "cat", "hello") == "from the host"
    refused = _exec(cluster, container["Id"], "sh", "-c", "touch /data/x /rootfile || echo no")
    # Both touches fail (read-only bind and root), so the fallback ran; stderr follows stdout.
    assert "no" in refused.splitlines()
    assert _exec(cluster, container["Id"], "sh", "-c", "touch /scratch/x && echo yes") == "yes"
    _remove(cluster, "shaped")


def test_a_health_check_holds_the_task_until_healthy(cluster: Cluster) -> None:
    """With --health-cmd the task is Starting while the check fails, and Running once it
    passes; the container is the same one throughout."""
    cluster.ok(
        "service", "create", "-d", "--name", "patient", "--health-cmd", "test -f /ok",
        *FAST_HEALTH, "--health-retries", "1000", IMAGE, *SLEEPER,
    )  # fmt: skip
    [container] = wait_for(lambda: cluster.running("patient", 1), "1 running container")

    def failed_a_check() -> bool:
        health = cluster.engine.inspect_container(container["Id"])["State"]["Health"]
        return bool(health["FailingStreak"] >= 2)

    wait_for(failed_a_check, "the check to fail twice")
    assert _states(cluster, "patient") == ["Starting"]
    [doc] = json.loads(cluster.ok("service", "inspect", "patient").out)
    assert doc["ServiceStatus"]["RunningTasks"] == 0
    _exec(cluster, container["Id"], "touch", "/ok")
    wait_for(lambda: _states(cluster, "patient") == ["Running"], "the task to run")
    [task] = cluster.tasks("patient")
    assert [c["Id"] for c in cluster.containers("patient")] == [container["Id"]]
    assert task["Error"] == ""
    _remove(cluster, "patient")


def test_a_never_healthy_task_fails_and_is_replaced(cluster: Cluster) -> None:
    """A check that never passes: the container is stopped, its task Failed with
    `container unhealthy`, and a new task takes the slot."""
    cluster.ok(
        "service", "create", "-d", "--name", "sickly", "--health-cmd", "false", *FAST_HEALTH,
        "--health-retries", "1", "--stop-grace-period", "1s", IMAGE, *SLEEPER,
    )  # fmt: skip

    def replaced() -> list[dict[str, Any]] | None:
        tasks = cluster.tasks("sickly")
        failed = [t for t in tasks if str(t["CurrentState"]).startswith("Failed")]
        return tasks if failed and len(tasks) >= 2 else None

    tasks = wait_for(replaced, "a failed task and its replacement")
    failed = next(t for t in tasks if str(t["CurrentState"]).startswith("Failed"))
    # `service ps` quotes errors, as docker does.
    assert failed["Error"] == '"container unhealthy"'
    assert failed["DesiredState"] == "Shutdown"
    assert {t["Name"] for t in tasks} == {"sickly.1"}
    assert "Running" not in _states(cluster, "sickly")
    _remove(cluster, "sickly")


def test_bad_settings_are_one_line_and_store_nothing(cluster: Cluster) -> None:
    """A template the CLI refuses, and settings the manager refuses: one line, exit 1, and no
    service."""
    for argv, message in (
        (["--hostname", "{{.Task.Nope}}"], "unknown {{.Task.Nope}}"),
        (["--workdir", "relative"], "invalid workdir 'relative'"),
        (["--stop-signal", "SIGNOPE"], "invalid stop signal 'SIGNOPE'"),
    ):
        result = cluster.shoal("service", "create", "-d", "--name", "refused", *argv, IMAGE)
        assert result.code == 1
        [line] = result.err.splitlines()
        assert message in line
        assert cluster.shoal("service", "ps", "refused").code == 1
