"""`shoal stack` against the fake Control: files `stack deploy` must refuse (one line on stderr
naming where in the file, exit code 1, and not one call to the manager, so nothing created), and
a deploy's warnings, order and listing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Shoal, one_error_line

INVALID = [
    pytest.param(
        "services:\n  web:\n    image: a\n    deploy:\n      replicas: three\n",
        "Error: services.web.deploy.replicas: ",
        id="wrong-type",
    ),
    pytest.param(
        "services:\n  web:\n    image: a\nbogus: 1\n",
        "additional properties 'bogus' not allowed",
        id="unknown-top-level-key",
    ),
    pytest.param(
        "services:\n  web:\n    image: a\n    networks: [back]\n",
        "Error: services.web.networks: undefined network back",
        id="undefined-network",
    ),
    pytest.param(
        "services:\n  web:\n    image: 'a:${TAG:?TAG must be set}'\n",
        "Error: services.web.image: required variable TAG is missing a value: TAG must be set",
        id="missing-required-variable",
    ),
    pytest.param(
        "services:\n  web:\n    image: a\n    ports: ['8080:http']\n",
        "Error: services.web.ports[0]: invalid containerPort: http",
        id="bad-port",
    ),
    pytest.param(
        "services:\n  web:\n    image: a\n    healthcheck:\n      interval: ten\n",
        'Error: services.web.healthcheck.interval: time: invalid duration "ten"',
        id="bad-duration",
    ),
    pytest.param(
        "services:\n  web:\n    image: a\n    deploy:\n      mode: sometimes\n",
        "Error: services.web.deploy.mode: 'sometimes' is not one of replicated, global,",
        id="unknown-mode",
    ),
    pytest.param(
        "services:\n  web:\n    image: a\n    depends_on: [db]\n",
        "Error: services.web.depends_on: undefined service db",
        id="undefined-dependency",
    ),
    pytest.param(
        "services:\n  web:\n    image: a\n    networks: [n]\nnetworks:\n  n:\n    driver: bridge\n",
        "Error: networks.n.driver: 'bridge' is not supported: only overlay",
        id="network-driver",
    ),
    pytest.param(
        "services:\n  web:\n    image: a\n    secrets: [s]\n",
        "Error: services.web.secrets: undefined secret s",
        id="undefined-secret",
    ),
    pytest.param(
        "services:\n  web: {image: a\n",
        "yaml: line ",
        id="yaml-syntax",
    ),
    pytest.param(
        "services:\n  web:\n    image: a\n    deploy:\n      resources:\n"
        "        limits:\n          memory: lots\n",
        "Error: services.web.deploy.resources.limits.memory: invalid size: 'lots'",
        id="bad-size",
    ),
]


@pytest.mark.parametrize(("text", "expected"), INVALID)
def test_invalid_file_is_one_line_and_creates_nothing(
    shoal: Shoal, control: FakeControl, tmp_path: Path, text: str, expected: str
) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(text)
    line = one_error_line(shoal("stack", "deploy", "-c", str(compose), "app"))
    assert expected in line
    assert control.calls == []
    assert control.networks == {}


def test_a_missing_file_is_named(shoal: Shoal, control: FakeControl, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    line = one_error_line(shoal("stack", "deploy", "-c", str(missing), "app"))
    assert line == f"Error: {missing}: no such file"
    assert control.calls == []


def test_an_invalid_stack_name_is_refused(
    shoal: Shoal, control: FakeControl, tmp_path: Path
) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  web:\n    image: a\n")
    line = one_error_line(shoal("stack", "deploy", "-c", str(compose), "My Stack"))
    assert line.startswith("Error: invalid stack name 'My Stack'")
    assert control.calls == []


def test_deploy_warns_creates_in_order_and_lists(
    shoal: Shoal, control: FakeControl, tmp_path: Path
) -> None:
    """Each ignored key is one warning line; the network comes first, then each service after
    those it depends on; `stack ls` and `services` find them by the namespace label."""
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(
        "services:\n"
        "  web:\n    image: a\n    depends_on: [api]\n    privileged: true\n    cap_add: [ALL]\n"
        "  api:\n    image: b\n"
    )
    result = shoal("stack", "deploy", "-d", "-c", str(compose), "app")
    assert result.code == 0, result.err
    assert result.err.splitlines() == [
        "Ignoring unsupported option: services.web.cap_add",
        "Ignoring unsupported option: services.web.privileged",
    ]
    assert result.lines == [
        "Creating network app_default",
        "Creating service app_api",
        "Creating service app_web",
    ]
    assert [n.name for n in control.networks.values()] == ["app_default"]
    assert shoal("stack", "ls").lines == ["NAME   SERVICES", "app    2"]
    listed = shoal("stack", "services", "-q", "app").lines
    assert len(listed) == 2
    assert shoal("stack", "services", "nothing").err == "Nothing found in stack: nothing\n"


def test_a_dependency_that_does_not_converge_stops_the_deploy(
    shoal: Shoal, control: FakeControl, tmp_path: Path
) -> None:
    """db never runs (the fake runs no task): after --timeout, exit code 2 naming it, and api,
    which waits for db to be healthy, is not created."""
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(
        "services:\n"
        "  api:\n    image: a\n    depends_on: {db: {condition: service_healthy}}\n"
        "  db:\n    image: b\n"
    )
    result = shoal("stack", "deploy", "-q", "--timeout", "1s", "-c", str(compose), "app")
    assert result.code == 2
    assert result.err.splitlines() == ["Error: service app_db did not converge within 1 second"]
    assert result.lines == ["Creating network app_default", "Creating service app_db"]
    assert [s.spec.name for s in control.services.values() if s.spec.name.startswith("app")] == [
        "app_db"
    ]


SECRETS = (
    "services:\n  web:\n    image: a\n    secrets: [db_pass, shared]\n    configs: [site]\n"
    "secrets:\n  db_pass: {file: ./pass.txt}\n  shared: {external: true}\n"
    "configs:\n  site: {file: ./site.conf}\n"
)


def test_secrets_and_configs_come_before_services_and_go_after_them(
    shoal: Shoal, control: FakeControl, tmp_path: Path
) -> None:
    """The stack's own secrets and configs are created labelled before any service; a redeploy
    with the same data leaves them alone and one with new data rotates them; `stack rm` removes
    them after the services and networks, and never the external one."""
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(SECRETS)
    (tmp_path / "pass.txt").write_bytes(b"hunter2")
    (tmp_path / "site.conf").write_bytes(b"listen 80")
    shared = shoal("secret", "create", "shared", str(tmp_path / "pass.txt"))
    assert shared.code == 0, shared.err
    result = shoal("stack", "deploy", "-d", "-c", str(compose), "app")
    assert result.code == 0, result.err
    assert result.lines == [
        "Creating network app_default",
        "Creating secret app_db_pass",
        "Creating config app_site",
        "Creating service app_web",
    ]
    files = {(i.config, i.name): i for i in control.files.values()}
    assert files[False, "app_db_pass"].data == b"hunter2"
    assert files[False, "app_db_pass"].labels == {"com.docker.stack.namespace": "app"}
    assert files[True, "app_site"].data == b"listen 80"
    [web] = [s for s in control.services.values() if s.spec.name == "app_web"]
    assert [(r.name, r.target) for r in web.spec.container.secrets] == [
        ("app_db_pass", "db_pass"),
        ("shared", "shared"),
    ]
    assert [(r.name, r.target) for r in web.spec.container.configs] == [("app_site", "/site")]

    assert shoal("stack", "deploy", "-d", "-c", str(compose), "app").lines == []
    (tmp_path / "pass.txt").write_bytes(b"hunter3")
    result = shoal("stack", "deploy", "-d", "-c", str(compose), "app")
    assert result.lines == ["Rotating secret app_db_pass to version 2"]
    assert files[False, "app_db_pass"].id in control.files
    assert control.files[files[False, "app_db_pass"].id].data == b"hunter3"

    result = shoal("stack", "rm", "app")
    assert result.code == 0, result.err
    assert result.lines == [
        "Removing service app_web",
        "Removing network app_default",
        "Removing secret app_db_pass",
        "Removing config app_site",
    ]
    assert [i.name for i in control.files.values()] == ["shared"]


def test_a_missing_external_secret_creates_nothing(
    shoal: Shoal, control: FakeControl, tmp_path: Path
) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(SECRETS)
    (tmp_path / "pass.txt").write_bytes(b"hunter2")
    (tmp_path / "site.conf").write_bytes(b"listen 80")
    line = one_error_line(shoal("stack", "deploy", "-d", "-c", str(compose), "app"))
    assert line.startswith("Error: secret 'shared' is declared as external, but could not be found")
    assert control.files == {}
    assert control.networks == {}
    assert "CreateService" not in control.calls


@pytest.mark.parametrize("refused", ["app_web", "app_api"], ids=["update", "create"])
def test_a_spec_the_manager_refuses_changes_nothing(
    shoal: Shoal, control: FakeControl, tmp_path: Path, refused: str
) -> None:
    """Every spec to create (app_api) or update (app_web) is dry-run first: one the manager
    refuses is named on one line, and nothing is pruned, created or updated."""
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  web:\n    image: a\n  old:\n    image: b\n")
    first = shoal("stack", "deploy", "-d", "-c", str(compose), "app")
    assert first.code == 0, first.err
    services = dict(control.services)
    networks = dict(control.networks)
    (tmp_path / "pass.txt").write_bytes(b"hunter2")
    compose.write_text(
        "services:\n  web:\n    image: a2\n"
        "  api:\n    image: c\n    networks: [back]\n    secrets: [db_pass]\n"
        "networks:\n  back: {}\nsecrets:\n  db_pass: {file: ./pass.txt}\n"
    )
    control.refused[refused] = "invalid constraint: bogus"
    control.calls.clear()
    line = one_error_line(shoal("stack", "deploy", "-d", "--prune", "-c", str(compose), "app"))
    assert line == f"Error: service {refused}: invalid constraint: bogus"
    assert control.services == services
    assert control.networks == networks
    assert control.files == {}
    assert not set(control.calls) & {
        "RemoveService",
        "CreateNetwork",
        "CreateData",
        "CreateService",
        "UpdateService",
    }
