"""A compose file through compose's loader and Shoal's conversion: what each supported key
becomes in the service spec, the warnings for ignored keys, merging, and the plan of a
redeploy."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from cli.stack import convert, loader, plan
from cli.stack.model import NAMESPACE_LABEL, Stack
from common.errors import InvalidArgument, NotFound
from common.model import (
    DataInfo,
    EndpointMode,
    FailureAction,
    FileReference,
    HealthCheck,
    Meta,
    Mount,
    MountType,
    Network,
    PortConfig,
    PortProtocol,
    PublishMode,
    Resources,
    RestartCondition,
    Service,
    ServiceMode,
    UpdateOrder,
)

FULL = """
services:
  web:
    image: local/busybox:${TAG:-latest}
    command: httpd -f -p 80
    entrypoint: [/bin/sh, -c]
    environment: [GREETING, TIER=front]
    env_file: web.env
    labels: {team: a}
    ports: ["8080:80", {target: 53, published: 5353, protocol: udp, mode: host}]
    networks: {front: {aliases: [www]}}
    healthcheck: {test: [CMD, "true"], interval: 2s, timeout: 1s, retries: 4, start_period: 3s}
    user: "1000"
    working_dir: /srv
    hostname: "{{.Service.Name}}-{{.Task.Slot}}"
    stop_grace_period: 1m30s
    stop_signal: SIGINT
    init: true
    read_only: true
    tmpfs: /run
    volumes: ["./site:/srv:ro", "data:/data", {type: tmpfs, target: /cache}]
    build: .
    privileged: true
    deploy:
      replicas: 3
      labels: {tier: web}
      placement:
        constraints: [node.role==worker]
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 2
      resources:
        limits: {cpus: '0.5', memory: 64M}
        reservations: {cpus: '0.25', memory: 32M}
      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}
      update_config: {parallelism: 2, delay: 10s, order: start-first, failure_action: rollback}
      rollback_config: {parallelism: 0, monitor: 20s, max_failure_ratio: 0.5}
      endpoint_mode: dnsrr
  agent:
    image: local/busybox:latest
    deploy: {mode: global}
networks:
  front:
    ipam: {config: [{subnet: 10.200.0.0/24}]}
volumes:
  data: {}
"""


def _load(tmp_path: Path, *texts: str, env: dict[str, str] | None = None) -> Stack:
    files = []
    for index, text in enumerate(texts):
        path = tmp_path / f"compose{index}.yml"
        path.write_text(text)
        files.append(path)
    return convert.stack(loader.load(files, "app", env or {}), "app")


def test_every_supported_key_reaches_the_spec(tmp_path: Path) -> None:
    (tmp_path / "web.env").write_text("FROM_FILE=yes\n")
    (tmp_path / ".env").write_text("TAG=1.2\n")
    stack = _load(tmp_path, FULL, env={"GREETING": "hi"})
    web = {s.key: s for s in stack.services}["web"].spec
    container = web.container
    assert web.name == "app_web"
    assert container.image == "local/busybox:1.2"
    assert container.args == ("httpd", "-f", "-p", "80")
    assert container.entrypoint == ("/bin/sh", "-c")
    assert container.env == ("FROM_FILE=yes", "GREETING=hi", "TIER=front")
    assert container.labels == {"team": "a", NAMESPACE_LABEL: "app"}
    assert web.labels == {"tier": "web", NAMESPACE_LABEL: "app"}
    assert web.ports == (
        PortConfig(target=80, published=8080),
        PortConfig(53, 5353, PortProtocol.UDP, PublishMode.HOST),
    )
    assert web.networks == ("app_front",)
    assert web.aliases == ("web", "www")
    assert container.healthcheck == HealthCheck(
        ("CMD", "true"), timedelta(seconds=2), timedelta(seconds=1), 4, timedelta(seconds=3)
    )
    assert (container.user, container.workdir) == ("1000", "/srv")
    assert container.hostname == "{{.Service.Name}}-{{.Task.Slot}}"
    assert container.stop_grace_period == timedelta(seconds=90)
    assert (container.stop_signal, container.init, container.read_only) == ("SIGINT", True, True)
    assert container.mounts == (
        Mount(MountType.BIND, "/srv", str(tmp_path / "site"), read_only=True),
        Mount(MountType.VOLUME, "/data", "app_data"),
        Mount(MountType.TMPFS, "/cache"),
        Mount(MountType.TMPFS, "/run"),
    )
    assert (web.mode, web.replicas) == (ServiceMode.REPLICATED, 3)
    assert web.placement.constraints == ("node.role==worker",)
    assert web.placement.spread == ("node.labels.zone",)
    assert web.placement.max_replicas_per_node == 2
    assert container.limits == Resources(500_000_000, 64 * 2**20)
    assert web.reservations == Resources(250_000_000, 32 * 2**20)
    assert web.restart.condition is RestartCondition.ON_FAILURE
    assert (web.restart.delay, web.restart.max_attempts) == (timedelta(seconds=5), 3)
    assert web.restart.window == timedelta(minutes=2)
    assert (web.update.parallelism, web.update.delay) == (2, timedelta(seconds=10))
    assert web.update.order is UpdateOrder.START_FIRST
    assert web.update.failure_action is FailureAction.ROLLBACK
    assert (web.rollback.parallelism, web.rollback.monitor) == (0, timedelta(seconds=20))
    assert web.rollback.max_failure_ratio == 0.5
    assert web.endpoint_mode is EndpointMode.DNSRR
    agent = {s.key: s for s in stack.services}["agent"].spec
    assert (agent.mode, agent.replicas, agent.networks) == (ServiceMode.GLOBAL, 0, ("app_default",))
    networks = {n.key: n for n in stack.networks}
    assert networks["front"].subnet == "10.200.0.0/24"
    assert networks["front"].labels == {NAMESPACE_LABEL: "app"}
    assert networks["default"].name == "app_default"
    assert stack.warnings == (
        "Ignoring unsupported option: services.web.build",
        "Ignoring unsupported option: services.web.privileged",
    )


def test_later_files_override_earlier_ones(tmp_path: Path) -> None:
    stack = _load(
        tmp_path,
        "services:\n  web:\n    image: a\n    environment: {A: '1', B: '2'}\n",
        "services:\n  web:\n    image: b\n    environment: {B: '3'}\n",
    )
    [web] = stack.services
    assert web.spec.container.image == "b"
    assert web.spec.container.env == ("A=1", "B=3")


def test_dollars_reach_the_container_as_written(tmp_path: Path) -> None:
    """`$$` in the file is a `$` in the container, as is a `$` in an interpolated value."""
    stack = _load(
        tmp_path,
        "services:\n  web:\n    image: a\n    command: [sh, -c, 'echo $$HOME']\n"
        "    environment: {PASSWORD: '${SECRET}', PRICE: '$$5'}\n",
        env={"SECRET": "pa$$word$"},
    )
    [web] = stack.services
    assert web.spec.container.args == ("sh", "-c", "echo $HOME")
    assert web.spec.container.env == ("PASSWORD=pa$$word$", "PRICE=$5")


SECRETS = """
services:
  web:
    image: a
    secrets: [db_pass, {source: api_key, target: key, uid: "1000", gid: "10", mode: 0400}]
    configs: [site, {source: site, target: /etc/site.conf, mode: 0440}]
secrets:
  db_pass: {file: ./pass.txt}
  api_key: {external: true}
  unused: {file: ./missing.txt}
configs:
  site: {file: ./site.conf, name: shared_site, labels: {team: a}}
"""


def test_secrets_and_configs_become_stack_objects_and_references(tmp_path: Path) -> None:
    """A `file:` is the stack's own object (STACK_KEY or its `name:`, its data read now); an
    external one keeps its name and has no data; a reference's default target is the key."""
    (tmp_path / "pass.txt").write_bytes(b"hunter2\n")
    (tmp_path / "site.conf").write_bytes(b"listen 80")
    stack = _load(tmp_path, SECRETS)
    assert [(f.key, f.name, f.config, f.data) for f in stack.files] == [
        ("api_key", "api_key", False, None),
        ("db_pass", "app_db_pass", False, b"hunter2\n"),
        ("site", "shared_site", True, b"listen 80"),
    ]
    assert stack.files[2].labels == {"team": "a", NAMESPACE_LABEL: "app"}
    assert "hunter2" not in repr(stack.files[1])
    [web] = stack.services
    assert web.spec.container.secrets == (
        FileReference(name="app_db_pass", target="db_pass"),
        FileReference(name="api_key", target="key", uid=1000, gid=10, mode=0o400),
    )
    assert web.spec.container.configs == (
        FileReference(name="shared_site", target="/site"),
        FileReference(name="shared_site", target="/etc/site.conf", mode=0o440),
    )


def test_a_secret_file_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"^secrets\.s\.file: cannot read .*/nope"):
        _load(
            tmp_path,
            "services:\n  w:\n    image: a\n    secrets: [s]\nsecrets:\n  s: {file: ./nope}\n",
        )


def test_an_endless_file_is_refused_at_the_limit(tmp_path: Path) -> None:
    """/dev/zero is read only one byte past the config limit, not until memory runs out."""
    with pytest.raises(InvalidArgument) as refused:
        _load(
            tmp_path,
            "services:\n  w:\n    image: a\n    configs: [c]\nconfigs:\n  c: {file: /dev/zero}\n",
        )
    assert str(refused.value) == (
        "configs.c.file: /dev/zero: config data is over the limit of 1000 KB"
    )


def test_job_modes_run_to_completion(tmp_path: Path) -> None:
    """replicas are a replicated job's completions (all at once, as docker's MaxConcurrent);
    a job's default restart condition is on-failure, and `any` is refused."""
    stack = _load(
        tmp_path,
        "services:\n  once:\n    image: a\n    deploy: {mode: replicated-job, replicas: 3}\n"
        "  each:\n    image: a\n    deploy: {mode: global-job}\n"
        "  web:\n    image: a\n"
        "    depends_on: {once: {condition: service_completed_successfully}}\n",
    )
    specs = {s.key: s.spec for s in stack.services}
    assert (specs["once"].mode, specs["once"].replicas) == (ServiceMode.REPLICATED_JOB, 3)
    assert specs["once"].concurrency == 3
    assert (specs["each"].mode, specs["each"].replicas) == (ServiceMode.GLOBAL_JOB, 0)
    assert specs["once"].restart.condition is RestartCondition.ON_FAILURE
    assert {s.key: s.depends_on for s in stack.services}["web"] == {
        "once": "service_completed_successfully"
    }
    with pytest.raises(InvalidArgument, match=r"^services\.j\.deploy\.restart_policy\.condition"):
        _load(
            tmp_path,
            "services:\n  j:\n    image: a\n    deploy:\n      mode: replicated-job\n"
            "      restart_policy: {condition: any}\n",
        )


def test_waiting_for_a_service_that_is_no_job_to_complete_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        InvalidArgument,
        match=r"^services\.web\.depends_on\.db\.condition: service_completed_successfully needs",
    ):
        _load(
            tmp_path,
            "services:\n  db:\n    image: a\n  web:\n    image: a\n"
            "    depends_on: {db: {condition: service_completed_successfully}}\n",
        )


def test_plan_creates_missing_files_syncs_own_ones_and_needs_external_ones(
    tmp_path: Path,
) -> None:
    (tmp_path / "pass.txt").write_bytes(b"hunter2")
    (tmp_path / "site.conf").write_bytes(b"listen 80")
    stack = _load(tmp_path, SECRETS)
    with pytest.raises(NotFound, match="secret 'api_key' is declared as external"):
        plan.make(stack, [], [], [], prune=False)
    external = DataInfo(config=False, id="s1", name="api_key", versions=(1,))
    first = plan.make(stack, [], [], [external], prune=False)
    assert [f.name for f in first.files_to_create] == ["app_db_pass", "shared_site"]
    assert first.files_to_sync == ()
    own = DataInfo(False, "s2", "app_db_pass", (1,), labels={NAMESPACE_LABEL: "app"})
    again = plan.make(stack, [], [], [external, own], prune=False)
    assert [f.name for f in again.files_to_create] == ["shared_site"]
    assert [(f.name, info.id) for f, info in again.files_to_sync] == [("app_db_pass", "s2")]
    theirs = replace(own, labels={NAMESPACE_LABEL: "other"})
    with pytest.raises(InvalidArgument, match="secret app_db_pass exists and is not part of"):
        plan.make(stack, [], [], [external, theirs], prune=False)


def test_a_service_whose_references_resolved_is_unchanged(tmp_path: Path) -> None:
    """The manager stores each reference with its object's ID and version: that alone is no
    change to the file's spec, while another target is."""
    (tmp_path / "pass.txt").write_bytes(b"hunter2")
    text = "services:\n  web:\n    image: a\n    secrets: [s]\nsecrets:\n  s: {file: pass.txt}\n"
    stack = _load(tmp_path, text)
    [web] = stack.services
    ref = replace(web.spec.container.secrets[0], id="s1", version=2)
    stored = replace(web.spec, container=replace(web.spec.container, secrets=(ref,)))
    assert plan.same(stored, web.spec, {})
    moved = replace(ref, target="elsewhere")
    stored = replace(web.spec, container=replace(web.spec.container, secrets=(moved,)))
    assert not plan.same(stored, web.spec, {})


def _service(spec_stack: Stack, key: str, version: int = 1) -> Service:
    spec = {s.key: s for s in spec_stack.services}[key].spec
    return Service(id=f"id-{key}", spec=spec, meta=Meta(version=version))


def test_plan_orders_dependencies_and_touches_only_what_differs(tmp_path: Path) -> None:
    text = (
        "services:\n  web:\n    image: a\n    depends_on: [api]\n"
        "  api:\n    image: a\n    depends_on: {db: {condition: service_healthy}}\n"
        "  db:\n    image: a\n  old:\n    image: a\n"
    )
    before = _load(tmp_path, text)
    default = Network(id="net1", name="app_default", subnet="10.128.0.0/16", vni=4096)
    # What the manager stores: networks by ID.
    stored = [
        replace(s, spec=replace(s.spec, networks=("net1",)))
        for s in (_service(before, k) for k in ("web", "api", "db", "old"))
    ]
    after = _load(
        tmp_path,
        text.replace("  api:\n    image: a", "  api:\n    image: b").replace(
            "  old:\n    image: a\n", ""
        ),
    )
    first = plan.make(before, [], [], [], prune=False)
    assert [s.key for s, _ in first.services] == ["db", "api", "old", "web"]
    assert [n.name for n in first.networks_to_create] == ["app_default"]
    steps = plan.make(after, stored, [default], [], prune=True)
    assert [(s.key, old.id if old else None) for s, old in steps.services] == [("api", "id-api")]
    assert [s.spec.name for s in steps.unchanged] == ["app_db", "app_web"]
    assert [s.spec.name for s in steps.to_remove] == ["app_old"]
    assert steps.networks_to_create == ()
    assert plan.make(after, stored, [default], [], prune=False).to_remove == ()


def test_a_dependency_cycle_is_refused(tmp_path: Path) -> None:
    stack = _load(
        tmp_path,
        "services:\n  a:\n    image: x\n  b:\n    image: x\n",
    )
    looped = Stack(
        name="app",
        services=tuple(
            replace(s, depends_on={"b" if s.key == "a" else "a": "x"}) for s in stack.services
        ),
        networks=stack.networks,
    )
    with pytest.raises(InvalidArgument, match="a dependency cycle: a -> b -> a"):
        plan.ordered(looped.services)


def test_a_missing_external_network_is_refused(tmp_path: Path) -> None:
    stack = _load(
        tmp_path,
        "services:\n  a:\n    image: x\n    networks: [shared]\n"
        "networks:\n  shared:\n    external: true\n",
    )
    assert stack.networks[0].name == "shared"
    with pytest.raises(NotFound, match="network 'shared' is declared as external"):
        plan.make(stack, [], [], [], prune=False)
    existing = Network(id="n1", name="shared", subnet="10.128.0.0/16", vni=4096)
    assert plan.make(stack, [], [existing], [], prune=False).networks_to_create == ()
