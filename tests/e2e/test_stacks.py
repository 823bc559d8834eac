"""A stack across the lab's hosts: web on h1 reaches api, on the other hosts, by its name in the
file; api is created once db is healthy; `.env` fills the file in; a redeploy that changes
api's image replaces only api's tasks, and --prune removes what left the file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.probes import HTTPD, IMAGE, exec_in, lookup
from tests.lab import Lab
from tests.waiting import SLEEPER, wait_for

STACK = "shop"


def _compose(api_image: str, *, with_db: bool = True) -> str:
    db = (
        f"""
  db:
    image: {IMAGE}
    command: {json.dumps(SLEEPER)}
    networks: [back]
    healthcheck:
      test: [CMD-SHELL, "true"]
      interval: 1s
"""
        if with_db
        else ""
    )
    depends = "\n    depends_on:\n      db: {condition: service_healthy}" if with_db else ""
    return f"""
services:
  web:
    image: {IMAGE}
    command: {json.dumps(SLEEPER)}
    environment:
      GREETING: ${{GREETING:?set it in .env}}
    networks: [front]
    deploy:
      placement:
        constraints: [node.hostname == h1]
  api:
    image: {api_image}
    command: {json.dumps(HTTPD)}
    networks: [front, back]{depends}
    deploy:
      replicas: 2
      placement:
        constraints: [node.hostname != h1]
{db}
networks:
  front:
    ipam:
      config: [{{subnet: 10.150.0.0/16}}]
  back:
"""


def _ids(lab: Lab, service: str) -> set[str]:
    return {cid for ids in lab.running(service).values() for cid in ids}


def test_a_stack_across_hosts(lab: Lab, tmp_path: Path) -> None:
    h1 = lab.hosts[0]
    (tmp_path / ".env").write_text("GREETING=hello from .env\n")
    compose = tmp_path / "docker-stack.yml"
    compose.write_text(_compose(IMAGE))
    try:
        done = lab.shoal("stack", "deploy", "--timeout", "3m", "-c", str(compose), STACK)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines.index(f"Creating service {STACK}_db") < lines.index(
            f"Creating service {STACK}_api"
        )
        api_hosts = {host for host, ids in lab.running(f"{STACK}_api").items() if ids}
        assert api_hosts <= {"h2", "h3"}
        assert exec_in(h1, f"{STACK}_web", "echo $GREETING") == (0, "hello from .env\n")
        import sys

        for q in (
            "nslookup api",
            "nslookup shop_api",
            "nslookup tasks.api",
            "timeout 2 wget -qO- http://shop_api/",
            "cat /etc/resolv.conf",
        ):
            print(q, exec_in(h1, f"{STACK}_web", q), file=sys.stderr)
        # By the name in the file, through the virtual IP, to a replica on another host.
        wait_for(
            lambda: exec_in(h1, f"{STACK}_web", "timeout 2 wget -qO- http://api/")[0] == 0,
            "web reaching api by name",
            60,
        )
        assert lookup(h1, f"{STACK}_web", "api") == lookup(h1, f"{STACK}_web", f"{STACK}_api")
        listed = {s["Name"]: s["Replicas"] for s in lab.json_lines("stack", "services", STACK)}
        assert listed == {f"{STACK}_api": "2/2", f"{STACK}_db": "1/1", f"{STACK}_web": "1/1"}
        assert lab.json_lines("stack", "ls") == [{"Name": STACK, "Services": "3"}]
        assert len(lab.json_lines("stack", "ps", STACK)) == 4

        # A new image for api only: the others keep their containers.
        for host in lab.hosts:
            with host.engine() as api:
                api.tag(IMAGE, "local/busybox", "v2")
        web, db, api_before = (_ids(lab, f"{STACK}_{s}") for s in ("web", "db", "api"))
        compose.write_text(_compose("local/busybox:v2"))
        done = lab.shoal("stack", "deploy", "--timeout", "3m", "-c", str(compose), STACK)
        assert done.returncode == 0, done.stderr
        changed = [ln for ln in done.stdout.splitlines() if "service" in ln]
        assert len(changed) == 1
        assert changed[0].startswith(f"Updating service {STACK}_api ")
        api_after = _ids(lab, f"{STACK}_api")
        assert len(api_after) == 2
        assert api_after.isdisjoint(api_before)
        assert (_ids(lab, f"{STACK}_web"), _ids(lab, f"{STACK}_db")) == (web, db)

        compose.write_text(_compose("local/busybox:v2", with_db=False))
        done = lab.shoal("stack", "deploy", "--prune", "-c", str(compose), STACK)
        assert done.returncode == 0, done.stderr
        assert f"Removing service {STACK}_db" in done.stdout
        assert _ids(lab, f"{STACK}_web") == web
    finally:
        lab.shoal("stack", "rm", STACK)
