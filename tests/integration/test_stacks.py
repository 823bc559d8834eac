"""`shoal stack` against a real cluster: a three-service file with `.env` interpolation, a
health-checked dependency, a secret and a config from files beside it, and a job the api waits
for; a redeploy that touches one service only, --prune, a changed secret rotated, and rm."""

from __future__ import annotations

import os
from pathlib import Path

from tests.container_exec import run_in
from tests.integration.cluster import Cluster
from tests.waiting import wait_for

SLEEP = "[sh, -c, \"trap 'exit 0' TERM; sleep 100000 & wait\"]"


def _file(path: Path, api_greeting: str, *, with_db: bool = True) -> Path:
    db = (
        f"""
  db:
    image: local/busybox:latest
    command: {SLEEP}
    secrets: [db_password]
    healthcheck:
      test: [CMD-SHELL, "test -e /tmp/ready || touch /tmp/ready; true"]
      interval: 1s
      retries: 3
"""
        if with_db
        else ""
    )
    depends = "\n      db:\n        condition: service_healthy" if with_db else ""
    path.write_text(f"""
services:
  web:
    image: local/busybox:latest
    command: {SLEEP}
    environment:
      TIER: ${{TIER:-front}}
    configs: [app_conf]
    depends_on: [api]
    deploy:
      replicas: 2
      labels:
        role: web
  api:
    image: local/busybox:latest
    command: {SLEEP}
    environment:
      GREETING: ${{GREETING:?GREETING must be set}}
      SAYS: "{api_greeting}"
    secrets: [db_password]
    configs:
      - source: app_conf
        target: /etc/app.conf
    depends_on:
      migrate:
        condition: service_completed_successfully{depends}
    stop_grace_period: 2s
  migrate:
    image: local/busybox:latest
    command: [sh, -c, "test -s /run/secrets/db_password"]
    secrets: [db_password]
    deploy:
      mode: replicated-job
      replicas: 2
{db}
secrets:
  db_password:
    file: ./db_password.txt
configs:
  app_conf:
    file: ./app.conf
""")
    return path


def _read(cluster: Cluster, service: str, path: str) -> bytes:
    """The bytes at path in the first running container of service."""
    container = cluster.containers(service)[0]
    _, output = run_in(cluster.engine, container["Id"], ["cat", path])
    return output


def _container_ids(cluster: Cluster, service: str, count: int) -> set[str]:
    found = wait_for(lambda: cluster.running(service, count), f"{count} of {service} running")
    return {c["Id"] for c in found}


def test_deploy_redeploy_prune_and_rm(cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GREETING=hello from .env\n")
    password = b"pw-" + os.urandom(8).hex().encode() + b"\n"
    setting = b"listen 80\n# " + os.urandom(8).hex().encode()
    (tmp_path / "db_password.txt").write_bytes(password)
    (tmp_path / "app.conf").write_bytes(setting)
    compose = _file(tmp_path / "docker-compose.yml", "one")
    try:
        first = cluster.shoal("stack", "deploy", "-c", str(compose), "it", timeout=240)
        assert first.code == 0, first.err
        lines = first.out.splitlines()
        # db converged (healthy) before api was created, and api before web.
        assert lines[:3] == [
            "Creating network it_default",
            "Creating secret it_db_password",
            "Creating config it_app_conf",
        ]
        assert lines.index("Creating service it_db") < lines.index("Creating service it_api")
        # The job completed before the service that waits for it was created.
        assert lines.index("verify: Job complete") < lines.index("Creating service it_api")
        assert lines.index("Creating service it_api") < lines.index("Creating service it_web")
        converged = [i for i, line in enumerate(lines) if line == "verify: Service converged"]
        assert converged[0] < lines.index("Creating service it_api")
        [api] = cluster.containers("it_api")
        env = cluster.engine.inspect_container(api["Id"])["Config"]["Env"]
        assert "GREETING=hello from .env" in env
        assert "SAYS=one" in env
        assert _read(cluster, "it_db", "/run/secrets/db_password") == password
        assert _read(cluster, "it_api", "/run/secrets/db_password") == password
        assert _read(cluster, "it_api", "/etc/app.conf") == setting
        assert _read(cluster, "it_web", "/app_conf") == setting

        assert cluster.ok("stack", "ls").out.splitlines() == ["NAME   SERVICES", "it     4"]
        listed = cluster.ok("stack", "services", "it", "--format", "json").json_lines()
        assert [(s["Name"], s["Replicas"]) for s in listed] == [
            ("it_api", "1/1"),
            ("it_db", "1/1"),
            ("it_migrate", "0/0 (2/2 completed)"),
            ("it_web", "2/2"),
        ]
        tasks = cluster.ok("stack", "ps", "it", "--format", "json").json_lines()
        assert sorted(t["Name"] for t in tasks) == [
            "it_api.1",
            "it_db.1",
            "it_migrate.1",
            "it_migrate.2",
            "it_web.1",
            "it_web.2",
        ], [(t["Name"], t["CurrentState"], t["Error"]) for t in tasks]
        labels = cluster.ok("service", "inspect", "it_web").out
        assert '"com.docker.stack.namespace": "it"' in labels
        assert '"role": "web"' in labels

        web_before = _container_ids(cluster, "it_web", 2)
        db_before = _container_ids(cluster, "it_db", 1)
        api_before = _container_ids(cluster, "it_api", 1)
        again = cluster.shoal("stack", "deploy", "-c", str(compose), "it", timeout=240)
        assert again.code == 0, again.err
        assert "Updating service" not in again.out
        assert "Creating service" not in again.out
        assert "Rotating" not in again.out

        _file(compose, "two")
        changed = cluster.shoal("stack", "deploy", "-c", str(compose), "it", timeout=240)
        assert changed.code == 0, changed.err
        assert next(line for line in changed.out.splitlines() if "service" in line).startswith(
            "Updating service it_api"
        )
        assert "Updating service it_web" not in changed.out
        api_after = _container_ids(cluster, "it_api", 1)
        assert api_after.isdisjoint(api_before)
        assert _container_ids(cluster, "it_web", 2) == web_before
        assert _container_ids(cluster, "it_db", 1) == db_before

        _file(compose, "two", with_db=False)
        pruned = cluster.shoal("stack", "deploy", "--prune", "-c", str(compose), "it", timeout=240)
        assert pruned.code == 0, pruned.err
        assert "Removing service it_db" in pruned.out
        assert cluster.shoal("service", "inspect", "it_db").code == 1
        assert _container_ids(cluster, "it_web", 2) == web_before

        # Changed files are new versions of the stack's secret and config (api uses both, so
        # the second rotation waits for the roll the first began), and api, changed in the
        # same deploy, runs with them.
        (tmp_path / "db_password.txt").write_bytes(b"rotated-" + password)
        (tmp_path / "app.conf").write_bytes(b"rotated-" + setting)
        _file(compose, "three", with_db=False)
        rotated = cluster.shoal("stack", "deploy", "-c", str(compose), "it", timeout=240)
        assert rotated.code == 0, rotated.err
        assert "Rotating secret it_db_password to version 2" in rotated.out
        assert "Rotating config it_app_conf to version 2" in rotated.out
        assert "Updating service it_api" in rotated.out
        _container_ids(cluster, "it_api", 1)
        assert _read(cluster, "it_api", "/run/secrets/db_password") == b"rotated-" + password
        assert _read(cluster, "it_api", "/etc/app.conf") == b"rotated-" + setting

        removed = cluster.shoal("stack", "rm", "it", timeout=120)
        assert removed.code == 0, removed.err
        assert removed.out.splitlines() == [
            "Removing service it_api",
            "Removing service it_migrate",
            "Removing service it_web",
            "Removing network it_default",
            "Removing secret it_db_password",
            "Removing config it_app_conf",
        ]
        assert cluster.ok("stack", "ls").out.splitlines() == ["NAME   SERVICES"]
        assert "it_default" not in cluster.ok("network", "ls").out
        assert "it_db_password" not in cluster.ok("secret", "ls").out
        assert "it_app_conf" not in cluster.ok("config", "ls").out
    finally:
        cluster.shoal("stack", "rm", "it", timeout=120)
