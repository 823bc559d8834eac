"""The real docker CLI (each one on this machine: the 28.x client and Debian's 20.10) and
docker-py as clients of the manager's Docker API, each result checked on the engine itself."""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from tests.container_exec import run_in
from tests.docker_cli import CLIENTS, DockerCli, of_cluster, tag_of
from tests.integration.cluster import DEADLINE, Cluster, free_port
from tests.waiting import wait_for

IMAGE = "local/busybox:latest"
STACK_FILE = """\
version: "3.8"
services:
  web:
    image: local/busybox:latest
    command: httpd -f -p 80
    networks: [back]
    secrets: [db_pw]
    configs:
      - source: app_conf
        target: /etc/app.conf
  worker:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
    networks: [back]
    deploy:
      replicas: 2
  cache:
    image: local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
    networks: [back]
networks:
  back:
    driver: overlay
secrets:
  db_pw:
    file: ./db_pw.txt
configs:
  app_conf:
    file: ./app.conf
"""
SECRET_TEXT = "stack-pw-5e4d3c"
CONFIG_TEXT = "listen 8080\n"
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]


@pytest.fixture(params=CLIENTS, ids=tag_of)
def cli(request: pytest.FixtureRequest, cluster: Cluster) -> DockerCli:
    path: Path = request.param
    return of_cluster(path, cluster)


@pytest.fixture
def second_tag(engine: docker.APIClient) -> Iterator[str]:
    """A second name of the test image, for `service update --image`; removed after."""
    tag = f"local/busybox:dockerapi-{free_port()}"
    engine.tag(IMAGE, tag)
    try:
        yield tag
    finally:
        engine.remove_image(tag)


def gone(cluster: Cluster, service: str) -> Callable[[], bool]:
    return lambda: not cluster.containers(service)


def test_this_machine_has_a_docker_cli() -> None:
    assert CLIENTS, "no docker CLI found at /usr/local/bin/docker or /usr/bin/docker"


def test_node_ls_join_token_and_the_negotiated_version(cli: DockerCli) -> None:
    rows = cli.lines("node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.Self}}")
    assert sorted(rows) == [
        "it-agent-1 Ready false",
        "it-agent-2 Ready false",
        "it-manager Ready true",
    ]
    before = cli.ok("swarm", "join-token", "-q", "worker").strip()
    cli.ok("swarm", "join-token", "--rotate", "-q", "worker")
    after = cli.ok("swarm", "join-token", "-q", "worker").strip()
    assert before.startswith("SHOAL-1-")
    assert after.startswith("SHOAL-1-")
    assert after != before
    version = json.loads(cli.ok("version", "--format", "{{json .}}"))
    assert version["Server"]["ApiVersion"] == "1.41"
    assert version["Client"]["ApiVersion"] == "1.41"


def test_a_service_from_create_to_rm(
    cli: DockerCli, cluster: Cluster, engine: docker.APIClient, second_tag: str
) -> None:
    name, net = f"cli-{tag_of(cli.cli)}", f"clinet-{tag_of(cli.cli)}"
    try:
        network_id = cli.ok("network", "create", "-d", "overlay", net).strip()
        assert cli.lines("network", "ls", "--filter", f"name={net}", "--format", "{{.Driver}}") == [
            "overlay"
        ]
        cli.ok(
            "service", "create", "--name", name, "--replicas", "3",
            "-p", f"{free_port()}:80", "--network", net, "--detach=false",
            IMAGE, "httpd", "-f", "-p", "80",
            timeout=DEADLINE * 4,
        )  # fmt: skip
        containers = wait_for(lambda: cluster.running(name, 3), "3 containers on the engine")
        for c in containers:
            attached = engine.inspect_container(c["Id"])["NetworkSettings"]["Networks"]
            assert f"shoal-{network_id}" in attached
        assert cli.lines("service", "ls", "--filter", f"name={name}", "--format",
                         "{{.Name}} {{.Replicas}}") == [f"{name} 3/3"]  # fmt: skip
        states = cli.lines(
            "service", "ps", name, "--filter", "desired-state=running",
            "--format", "{{.Name}} {{.CurrentState}} {{.Error}}",
        )  # fmt: skip
        assert sorted(s.split()[:2] for s in states) == [
            [f"{name}.{i}", "Running"] for i in (1, 2, 3)
        ]

        cli.ok("service", "scale", f"{name}=4", timeout=DEADLINE * 4)
        wait_for(lambda: cluster.running(name, 4), "4 containers after scale")

        cli.ok("service", "update", "--image", second_tag, name, timeout=DEADLINE * 4)
        wait_for(
            lambda: (
                {c["Image"] for c in cluster.containers(name)} == {second_tag}
                and cluster.running(name, 4)
            ),
            "every container on the new image",
        )
        cli.ok("service", "rollback", name, timeout=DEADLINE * 4)
        wait_for(
            lambda: (
                {c["Image"] for c in cluster.containers(name)} == {IMAGE}
                and cluster.running(name, 4)
            ),
            "every container back on the old image",
        )
        assert cli.ok(
            "service", "inspect", name, "--format", "{{.UpdateStatus.State}}"
        ).strip() == ("rollback_completed")

        cli.ok("service", "rm", name)
        wait_for(lambda: not cluster.containers(name), "no containers left")
        cli.ok("network", "rm", net)
        assert cli.lines("network", "ls", "--filter", f"name={net}", "-q") == []
    finally:
        cli.run("service", "rm", name)
        wait_for(lambda: not cluster.containers(name), "no containers left")
        cli.run("network", "rm", net)


def test_service_logs_and_follow(cli: DockerCli, cluster: Cluster) -> None:
    name = f"talk-{tag_of(cli.cli)}"
    script = "i=0; while true; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.2; done"
    try:
        cli.ok("service", "create", "-d", "--name", name, IMAGE, "sh", "-c", script)
        wait_for(lambda: cluster.running(name, 1), "the talker running")
        wait_for(lambda: "out 2" in cli.run("service", "logs", name).out, "its first lines")
        logs = cli.run("service", "logs", "--raw", name)
        assert "out 1\n" in logs.out
        assert "err 1\n" in logs.err
        task = cli.lines("service", "ps", name, "-q")[0]
        shown = cli.run("service", "logs", name).out.splitlines()[0]
        # The CLI shortens task IDs as docker's own.
        assert shown.startswith(f"{name}.1.{task[:12]}@it-")
        # One task's lines (/tasks/{id}/logs).
        assert "out 1\n" in cli.ok("service", "logs", "--raw", task)
        follower = subprocess.Popen(
            [str(cli.cli), "service", "logs", "-f", "--tail", "1", "--raw", name],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=cli.env,
        )  # fmt: skip
        try:
            assert follower.stdout is not None
            first = int(follower.stdout.readline().split()[1])
            # Lines written after the command started: it follows.
            later = [int(follower.stdout.readline().split()[1]) for _ in range(3)]
            assert later == [first + 1, first + 2, first + 3]
        finally:
            follower.kill()
            follower.wait(timeout=DEADLINE)
    finally:
        cli.run("service", "rm", name)
        wait_for(lambda: not cluster.containers(name), "no containers left")


def test_drain_moves_tasks_off_a_node(cli: DockerCli, cluster: Cluster) -> None:
    name = f"drain-{tag_of(cli.cli)}"
    node_id = cli.ok("node", "inspect", "it-agent-1", "--format", "{{.ID}}").strip()
    try:
        cli.ok("service", "create", "-d", "--name", name, "--replicas", "3", IMAGE, *SLEEPER)
        wait_for(lambda: cluster.running(name, 3), "3 containers")
        cli.ok("node", "update", "--availability", "drain", "it-agent-1")
        assert cli.ok("node", "inspect", "it-agent-1", "--format",
                      "{{.Spec.Availability}}").strip() == "drain"  # fmt: skip
        wait_for(
            lambda: (
                cluster.running(name, 3)
                and all(c["Labels"]["shoal.node.id"] != node_id for c in cluster.containers(name))
            ),
            "3 containers, none on the drained node",
        )
    finally:
        cli.run("node", "update", "--availability", "active", "it-agent-1")
        cli.run("service", "rm", name)
        wait_for(lambda: not cluster.containers(name), "no containers left")


def _read_in(engine: docker.APIClient, container: str, path: str) -> str:
    _, output = run_in(engine, container, ["cat", path])
    return output.decode()


def test_stack_deploy_ps_rm(cli: DockerCli, cluster: Cluster, engine: docker.APIClient) -> None:
    stack = f"st{tag_of(cli.cli)}"
    directory = cluster.root / stack
    directory.mkdir(exist_ok=True)
    compose = directory / "stack.yml"
    compose.write_text(STACK_FILE)
    (directory / "db_pw.txt").write_text(SECRET_TEXT)
    (directory / "app.conf").write_text(CONFIG_TEXT)
    services = {f"{stack}_web": 1, f"{stack}_worker": 2, f"{stack}_cache": 1}
    try:
        cli.ok("stack", "deploy", "-c", str(compose), stack)
        for service, count in services.items():
            wait_for(functools.partial(cluster.running, service, count), f"{service} running")
        network_id = cli.ok("network", "inspect", f"{stack}_back", "--format", "{{.Id}}").strip()
        labels = json.loads(
            cli.ok("network", "inspect", f"{stack}_back", "--format", "{{json .Labels}}")
        )
        assert labels == {"com.docker.stack.namespace": stack}
        for service in services:
            for c in cluster.containers(service):
                attached = engine.inspect_container(c["Id"])["NetworkSettings"]["Networks"]
                assert f"shoal-{network_id}" in attached
        (web,) = cluster.containers(f"{stack}_web")
        assert _read_in(engine, web["Id"], "/run/secrets/db_pw") == SECRET_TEXT
        assert _read_in(engine, web["Id"], "/etc/app.conf") == CONFIG_TEXT
        assert cli.lines("secret", "ls", "--format", "{{.Name}}") == [f"{stack}_db_pw"]
        assert cli.lines("config", "ls", "--format", "{{.Name}}") == [f"{stack}_app_conf"]
        assert SECRET_TEXT not in cli.ok("secret", "inspect", f"{stack}_db_pw")
        tasks = cli.lines("stack", "ps", stack, "--format", "{{.Name}} {{.DesiredState}}")
        assert sorted(tasks) == sorted(
            f"{s}.{i} Running" for s, n in services.items() for i in range(1, n + 1)
        )
        # Deployed again unchanged: every service updated in place, none replaced; the secret
        # and config taken back as they are.
        cli.ok("stack", "deploy", "-c", str(compose), stack)
        assert cluster.containers(f"{stack}_web")[0]["Id"] == web["Id"]
        cli.ok("stack", "rm", stack)
        for service in services:
            wait_for(gone(cluster, service), f"{service} gone")
        wait_for(lambda: not cli.lines("network", "ls", "-q", "--filter", f"name={stack}_"),
                 "the stack's network gone")  # fmt: skip
        assert cli.lines("secret", "ls", "-q") == []
        assert cli.lines("config", "ls", "-q") == []
    finally:
        cli.run("stack", "rm", stack)
        for service in services:
            wait_for(gone(cluster, service), f"{service} gone")


def test_refused_requests_store_nothing(cli: DockerCli) -> None:
    name = f"refused-{tag_of(cli.cli)}"
    capped = cli.run("service", "create", "--name", name, "--cap-add", "NET_ADMIN", IMAGE)
    assert capped.code != 0
    assert "unsupported field TaskTemplate.ContainerSpec.CapabilityAdd" in capped.err
    bad = cli.run("service", "ls", "--filter", "colour=red")
    assert bad.code != 0
    assert "invalid filter 'colour'" in bad.err
    engine_only = cli.run("ps")
    assert engine_only.code != 0
    assert "this is a Shoal manager" in engine_only.err
    assert cli.lines("service", "ls", "-q", "--filter", f"name={name}") == []


def test_docker_py_high_level_api(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these override the session's own CA file (its issue 3829); this machine sets
    # them to the system's bundle, which does not hold the cluster CA.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    admin = cluster.root / "manager" / "admin"
    tls = docker.tls.TLSConfig(
        client_cert=(str(admin / "cert.pem"), str(admin / "key.pem")),
        ca_cert=str(admin / "ca.pem"),
        verify=True,
    )
    client = docker.DockerClient(
        base_url=f"tcp://127.0.0.1:{cluster.docker_api_port}", tls=tls, version="auto"
    )
    try:
        assert sorted(n.attrs["Description"]["Hostname"] for n in client.nodes.list()) == [
            "it-agent-1", "it-agent-2", "it-manager",
        ]  # fmt: skip
        service = client.services.create(  # type: ignore[no-untyped-call]
            IMAGE, SLEEPER, name="py", mode=docker.types.ServiceMode("replicated", replicas=2)
        )
        try:
            assert [s.name for s in client.services.list(filters={"name": "py"})] == ["py"]
            wait_for(lambda: cluster.running("py", 2), "2 containers")
            assert client.services.get("py").scale(3)  # type: ignore[no-untyped-call]
            wait_for(lambda: cluster.running("py", 3), "3 containers after scale")
            again = client.services.get(service.id)  # type: ignore[no-untyped-call]
            tasks = again.tasks(filters={"desired-state": "running"})
            assert len(tasks) == 3
        finally:
            service.remove()
            wait_for(lambda: not cluster.containers("py"), "no containers left")
            wait_for(
                lambda: not client.services.list(filters={"name": "py"}),
                "service py removed",
                timeout=DEADLINE,
            )
    finally:
        client.close()
