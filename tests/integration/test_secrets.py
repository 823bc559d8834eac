"""Secrets and configs on a real engine: the exact bytes at /run/secrets/NAME with the owner and
mode asked for, a config at its target, and the bytes nowhere else: not in the manager's or the
agents' state dirs, the engine's data root, `docker inspect`, the daemons' logs or any `shoal`
output. The refusals are one line and store nothing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from agent.task_files import files_dir
from tests.integration.cluster import Cluster
from tests.waiting import SLEEPER, wait_for

IMAGE = "local/busybox:latest"


def _exec(cluster: Cluster, container_id: str, *command: str) -> bytes:
    run = cluster.engine.exec_create(container_id, list(command))
    output = cluster.engine.exec_start(run["Id"])
    assert isinstance(output, bytes)
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
    assert refused.err == "Error: secret data is 614400 bytes, over the limit of 500 KB\n"
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
