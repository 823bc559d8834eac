"""The real docker CLIs (the image's 28.x and Debian's 20.10) drive the lab's cluster through the
manager's Docker API, as a Swarm user's scripts would: nodes, an overlay network, a published
service waited on with --detach=false, scale, update, rollback, logs, rm, and a stack. Each
result is checked on the hosts' own engines and through the routing mesh of every host."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.docker_cli import CLIENTS, DockerCli, tag_of
from tests.e2e.probes import IMAGE, url
from tests.http_probe import hits
from tests.lab import Lab
from tests.lab_host import Host
from tests.waiting import SLEEPER, wait_for

DOCKER_API_PORT = 2376
# Prints a line to find in `docker service logs`, then serves its container's hostname.
WEB = [
    "sh",
    "-c",
    "trap 'exit 0' TERM; echo web is up; mkdir -p /www && hostname > /www/index.html"
    " && httpd -f -p 80 -h /www & wait",
]
STACK_FILE = f"""\
version: "3.8"
services:
  front:
    image: {IMAGE}
    command: {json.dumps(SLEEPER)}
    networks: [back]
    deploy:
      replicas: 2
  api:
    image: {IMAGE}
    command: {json.dumps(SLEEPER)}
    networks: [back]
  db:
    image: {IMAGE}
    command: {json.dumps(SLEEPER)}
    networks: [back]
networks:
  back:
    driver: overlay
"""
# Each client publishes a port of its own: the other's service may still be going away.
PORTS = {"new": 8080, "deb": 8081}
SECOND_TAG = "local/busybox:e2e-second"


@pytest.fixture(params=CLIENTS, ids=tag_of)
def cli(request: pytest.FixtureRequest, lab: Lab) -> DockerCli:
    path: Path = request.param
    api = f"{lab.manager.addr}:{DOCKER_API_PORT}"
    return DockerCli(path, api, lab.manager.state_dir / "admin", lab.root)


@pytest.fixture(scope="module")
def second_tag(lab: Lab) -> Iterator[str]:
    """A second name of the test image on every host, for `service update --image`."""
    for host in lab.hosts:
        with host.engine() as api:
            api.tag(IMAGE, SECOND_TAG)
    yield SECOND_TAG
    for host in lab.hosts:
        with host.engine() as api:
            api.remove_image(SECOND_TAG)


def images(lab: Lab, service: str) -> dict[str, set[str]]:
    """host name -> images of the service's running containers there, from its engine."""
    found: dict[str, set[str]] = {}
    for host in lab.hosts:
        with host.engine() as api:
            listed = api.containers(filters={"label": f"shoal.service.name={service}"})
        found[host.name] = {c["Image"] for c in listed}
    return found


def spread(lab: Lab, service: str) -> list[int]:
    """How many of the service's containers run on each host, from the engines."""
    return sorted(len(ids) for ids in lab.running(service).values())


def running(lab: Lab, service: str, count: int) -> bool:
    return sum(spread(lab, service)) == count


def balanced(host: Host, port: int, expected: set[str]) -> bool:
    return set(hits(url(host, port), 30)) == expected


def test_a_published_service_from_create_to_rm(lab: Lab, cli: DockerCli, second_tag: str) -> None:
    tag = tag_of(cli.cli)
    name, net, port = f"dweb-{tag}", f"dnet-{tag}", PORTS[tag]
    rows = cli.lines("node", "ls", "--format", "{{.Hostname}} {{.Status}}")
    assert sorted(rows) == [f"{h.name} Ready" for h in lab.hosts]
    try:
        cli.ok("network", "create", "-d", "overlay", net)
        cli.ok(
            "service", "create", "--name", name, "--replicas", "3", "-p", f"{port}:80",
            "--network", net, "--detach=false", IMAGE, *WEB, timeout=300,
        )  # fmt: skip
        # Waited for: running on the engines as soon as the command returns, one per host.
        assert spread(lab, name) == [1, 1, 1]
        expected = {cid[:12] for ids in lab.running(name).values() for cid in ids}
        for host in lab.hosts:
            wait_for(partial(balanced, host, port, expected), f"{host.name}:{port} balanced", 30)
        assert cli.lines("service", "ls", "--filter", f"name={name}", "--format",
                         "{{.Name}} {{.Replicas}}") == [f"{name} 3/3"]  # fmt: skip
        assert "web is up" in cli.ok("service", "logs", "--raw", name)

        cli.ok("service", "scale", f"{name}=1", "--detach=false", timeout=300)
        assert sum(spread(lab, name)) == 1
        (only,) = {cid[:12] for ids in lab.running(name).values() for cid in ids}
        for host in lab.hosts:
            wait_for(partial(balanced, host, port, {only}), f"{host.name}:{port} to one", 30)

        cli.ok("service", "update", "--image", second_tag, "--detach=false", name, timeout=300)
        on_hosts = images(lab, name)
        assert set().union(*on_hosts.values()) == {second_tag}
        cli.ok("service", "rollback", "--detach=false", name, timeout=300)
        wait_for(
            lambda: set().union(*images(lab, name).values()) == {IMAGE},
            "the container back on the first image",
        )
        assert cli.ok(
            "service", "inspect", name, "--format", "{{.UpdateStatus.State}}"
        ).strip() == ("rollback_completed")

        cli.ok("service", "rm", name)
        wait_for(lambda: sum(spread(lab, name)) == 0, "no container left on any host")
        cli.ok("network", "rm", net)
        assert cli.lines("network", "ls", "-q", "--filter", f"name={net}") == []
    finally:
        cli.run("service", "rm", name)
        wait_for(lambda: sum(spread(lab, name)) == 0, "no container left on any host")
        cli.run("network", "rm", net)


def test_a_stack_across_the_hosts(lab: Lab, cli: DockerCli) -> None:
    stack = f"dst{tag_of(cli.cli)}"
    compose = lab.root / f"{stack}.yml"
    compose.write_text(STACK_FILE)
    services = {f"{stack}_front": 2, f"{stack}_api": 1, f"{stack}_db": 1}
    try:
        cli.ok("stack", "deploy", "-c", str(compose), stack, timeout=300)
        for service, count in services.items():
            wait_for(partial(running, lab, service, count), f"{service} running")
        tasks = cli.lines("stack", "ps", stack, "--format", "{{.Name}} {{.CurrentState}}")
        assert sorted(t.split()[:2] for t in tasks) == sorted(
            [f"{s}.{i}", "Running"] for s, n in services.items() for i in range(1, n + 1)
        )
        # Four tasks over three hosts: the stack's network reaches more than one of them.
        hosts = {h for s in services for h, ids in lab.running(s).items() if ids}
        assert len(hosts) > 1
        cli.ok("stack", "rm", stack)
        for service in services:
            wait_for(partial(running, lab, service, 0), f"{service} gone")
        wait_for(
            lambda: not cli.lines("network", "ls", "-q", "--filter", f"name={stack}_"),
            "the stack's network gone",
        )
    finally:
        cli.run("stack", "rm", stack)
        for service in services:
            wait_for(partial(running, lab, service, 0), f"{service} gone")
