"""Secrets and configs on a real engine: the exact bytes at /run/secrets/NAME with the owner and
mode asked for, a config at its target, and the bytes nowhere else: not in the manager's or the
agents' state dirs, the engine's data root, `docker inspect`, the daemons' logs or any `shoal`
output. The refusals are one line and store nothing."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

from agent.task_files import files_dir
from tests.container_exec import run_in
from tests.integration.cluster import Cluster
from tests.integration.test_updates import sampled
from tests.waiting import SLEEPER, wait_for

IMAGE = "local/busybox:latest"


def _exec(cluster: Cluster, container_id: str, *command: str) -> bytes:
    _, output = run_in(cluster.engine, container_id, list(command))
    return output


def _holding(root: Path, needle: bytes) -> list[str]:
    """The files under root holding needle (grep, which reads every file: sockets and the like
    are skipped)."""
    done = subprocess.run(
        ["grep", "-rlaF", "--devices=skip", needle.decode(), str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout.split()


def test_a_secret_and_a_config_reach_the_container_and_nowhere_else(
    cluster: Cluster, tmp_path: Path
) -> None:
    secret = b"pw-" + os.urandom(16).hex().encode()
    setting = b"cfg-" + os.urandom(16).hex().encode()
    (tmp_path / "secret").write_bytes(secret)
    (tmp_path / "config").write_bytes(setting)
    secret_id = cluster.ok("secret", "create", "db-pass", str(tmp_path / "secret")).out.strip()
    cluster.ok("config", "create", "--label", "app=web", "app.conf", str(tmp_path / "config"))
    listed = cluster.ok("secret", "ls", "--format", "json").json_lines()
    assert [(s["ID"], s["Name"]) for s in listed] == [(secret_id, "db-pass")]
    header = cluster.ok("secret", "ls").out.splitlines()[0].split()
    assert header == ["ID", "NAME", "CREATED", "UPDATED"]
    cluster.ok(
        "service", "create", "--name", "vault", "--replicas", "2",
        "--secret", "source=db-pass,target=pw,uid=1000,gid=1001,mode=0400",
        "--config", "source=app.conf,target=/etc/app.conf",
        "--secret", "db-pass",
        IMAGE, *SLEEPER,
    )  # fmt: skip
    try:
        containers = wait_for(lambda: cluster.running("vault", 2), "2 running containers")
        for container in containers:
            cid = container["Id"]
            assert _exec(cluster, cid, "cat", "/run/secrets/pw") == secret
            assert _exec(cluster, cid, "cat", "/run/secrets/db-pass") == secret
            assert _exec(cluster, cid, "cat", "/etc/app.conf") == setting
            owner = _exec(cluster, cid, "stat", "-c", "%u %g %a", "/run/secrets/pw")
            assert owner.decode().strip() == "1000 1001 400"
            default = _exec(cluster, cid, "stat", "-c", "%u %g %a", "/run/secrets/db-pass")
            assert default.decode().strip() == "0 0 444"
            # Read-only in the container, even for root.
            denied = _exec(cluster, cid, "sh", "-c", "echo x > /run/secrets/pw && echo wrote")
            assert b"wrote" not in denied
            inspected = json.dumps(cluster.engine.inspect_container(cid))
            assert secret.decode() not in inspected
            assert setting.decode() not in inspected
        # The task's files are on a tmpfs outside every state dir, and only while it runs.
        node_ids = {c["Labels"]["shoal.node.id"] for c in containers}
        task_ids = {c["Labels"]["shoal.task.id"] for c in containers}
        for node_id in node_ids:
            mounted = subprocess.run(
                ["findmnt", "-n", "-o", "FSTYPE", "-T", str(files_dir(node_id))],
                capture_output=True,
                text=True,
                check=True,
            )
            assert mounted.stdout.strip() == "tmpfs"
        data_root = Path(cluster.engine.info()["DockerRootDir"])
        for root in (cluster.root, data_root):
            assert _holding(root, secret) == [], root
        assert _holding(cluster.root, setting) == []
        shown = "\n".join(
            cluster.ok(*command).out
            for command in (
                ("secret", "inspect", "db-pass"),
                ("secret", "inspect", "--pretty", "db-pass"),
                ("service", "inspect", "vault"),
                ("service", "ps", "vault"),
            )
        )
        assert secret.decode() not in shown
        assert "db-pass:v1" in shown
        # A config's data is shown, as docker's `config inspect` shows it.
        assert setting.decode() in cluster.ok("config", "inspect", "--pretty", "app.conf").out
    finally:
        cluster.ok("service", "rm", "vault")
    wait_for(lambda: not cluster.containers("vault", running=False), "vault's containers to go")
    for node_id in node_ids:
        for task_id in task_ids:
            assert not (files_dir(node_id) / task_id).exists()
    cluster.ok("secret", "rm", "db-pass")
    cluster.ok("config", "rm", "app.conf")
    assert cluster.ok("secret", "ls", "-q").out == ""


def test_refusals_are_one_line_and_store_nothing(cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"a" * 600 * 1024)
    (tmp_path / "small").write_bytes(b"little")
    refused = cluster.shoal("secret", "create", "big", str(tmp_path / "big"))
    assert refused.code == 1
    # The client refuses it before sending it; the manager would too (test_secret_delivery).
    big = tmp_path / "big"
    assert refused.err == f"Error: {big}: secret data is over the limit of 500 KB\n"
    assert cluster.ok("secret", "ls", "-q").out == ""
    refused = cluster.shoal("service", "create", "--name", "nosecret", "--secret", "nope", IMAGE)
    assert (refused.code, refused.err) == (1, "Error: secret not found: nope\n")
    assert "nosecret" not in cluster.ok("service", "ls").out
    cluster.ok("secret", "create", "small", str(tmp_path / "small"))
    cluster.ok("service", "create", "-d", "--name", "holder", "--secret", "small", IMAGE, *SLEEPER)
    try:
        refused = cluster.shoal("secret", "rm", "small")
        assert refused.code == 1
        assert refused.err == ("Error: secret 'small' is in use by the following service: holder\n")
        assert cluster.ok("secret", "ls", "--format", "json").json_lines()[0]["Name"] == "small"
        refused = cluster.shoal("secret", "create", "x", str(tmp_path / "absent"))
        assert refused.code == 1
        assert len(refused.err.splitlines()) == 1
    finally:
        cluster.ok("service", "rm", "holder")
    cluster.ok("secret", "rm", "small")


def _secret_of(cluster: Cluster, name: str) -> list[bytes]:
    return sorted(
        _exec(cluster, c["Id"], "cat", "/run/secrets/tok") for c in cluster.containers(name)
    )


def test_rotation_rolls_one_task_at_a_time_and_rolls_back_keeping_the_old_version(
    cluster: Cluster, tmp_path: Path
) -> None:
    """A 3-replica service whose health check fails on a secret holding "bad": rotating to a
    good value replaces one task at a time (never fewer than 2 running, each new container made
    after the one before it started); rotating to a bad one rolls back, the tasks keeping the
    old version's bytes. Versions no task and no spec use any more are dropped."""
    for name, data in (("v1", b"good-1"), ("v2", b"good-2"), ("v3", b"bad-3"), ("v4", b"x")):
        (tmp_path / name).write_bytes(data)
    cluster.ok("secret", "create", "tok", str(tmp_path / "v1"))
    cluster.ok(
        "service", "create", "--name", "rot", "--replicas", "3", "--secret", "tok",
        "--health-cmd", "! grep -q bad /run/secrets/tok", "--health-interval", "200ms",
        "--health-retries", "1", "--health-timeout", "2s",
        "--update-monitor", "1s", "--update-failure-action", "rollback",
        IMAGE, *SLEEPER,
    )  # fmt: skip
    try:
        with sampled(lambda: len(cluster.containers("rot"))) as samples:
            rotated = cluster.shoal("secret", "rotate", "tok", str(tmp_path / "v2"), timeout=120)
        assert rotated.code == 0, rotated.err
        assert "rot: rolling to version 2" in rotated.out
        assert min(samples) >= 2
        assert _secret_of(cluster, "rot") == [b"good-2"] * 3
        started = sorted(
            (c["Created"], c["State"]["StartedAt"])
            for c in (cluster.engine.inspect_container(r["Id"]) for r in cluster.containers("rot"))
        )
        for (_, before), (created, _) in itertools.pairwise(started):
            assert created > before
        running = [t for t in cluster.tasks("rot") if t["DesiredState"] == "Running"]
        assert {t["Versions"] for t in running} == {"tok:v2"}
        # v1 stays while the service could roll back to it.
        assert _versions(cluster) == [1, 2]

        failed = cluster.shoal("secret", "rotate", "tok", str(tmp_path / "v3"), timeout=120)
        assert failed.code == 3, failed.out
        assert "rolled back" in failed.err
        wait_for(lambda: cluster.running("rot", 3), "3 replicas again")
        assert _secret_of(cluster, "rot") == [b"good-2"] * 3
        # v1 went with its last task; v3 stays as what a rollback of the rollback would use.
        wait_for(lambda: _versions(cluster) == [2, 3], "version 1 to be dropped")
    finally:
        cluster.ok("service", "rm", "rot")
    cluster.ok("secret", "rm", "tok")


def _versions(cluster: Cluster) -> list[int]:
    [inspected] = json.loads(cluster.ok("secret", "inspect", "tok").out)
    versions: list[int] = inspected["DataVersions"]
    return versions
