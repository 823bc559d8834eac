"""Images from registries in the client: the digest pinned at create and at `update --image`,
`--no-resolve-image`, one line of warning when no registry answers, `--with-registry-auth`
reading the docker configuration, and the tag shown where docker shows it."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import docker.errors
import pytest

from cli import registry
from common import convert
from common import model as m
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Shoal
from tests.unit.cli.seeded import WEB_ID

TAG = "127.0.0.1:5000/team/app:v1"
DIGEST = "sha256:" + "c" * 64
PASSWORD = "pw-7d1c0e"


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, m.RegistryAuth | None]]:
    """The engine knows TAG's digest; what it was asked, with which credentials."""
    asked: list[tuple[str, m.RegistryAuth | None]] = []

    def digest(reference: str, auth: m.RegistryAuth | None) -> str:
        asked.append((reference, auth))
        if reference != TAG:
            raise docker.errors.APIError(
                "", explanation=f'Head "http://x/v2/{reference}": no basic auth credentials'
            )
        return DIGEST

    monkeypatch.setattr(registry, "_digest", digest)
    return asked


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    token = base64.b64encode(f"deploy:{PASSWORD}".encode()).decode()
    directory = tmp_path / "docker"
    directory.mkdir()
    (directory / "config.json").write_text(
        json.dumps({"auths": {"127.0.0.1:5000": {"auth": token}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    return directory


def _created(control: FakeControl, name: str) -> m.Service:
    [found] = [s for s in control.services.values() if s.spec.name == name]
    return found


class TestDigestPinning:
    def test_create_runs_the_digest_the_tag_names_now(
        self, shoal: Shoal, control: FakeControl, resolved: list[object]
    ) -> None:
        result = shoal("service", "create", "-d", "--name", "app", TAG)
        assert result.code == 0, result.err
        assert result.err == ""
        assert _created(control, "app").spec.container.image == f"{TAG}@{DIGEST}"
        assert resolved == [(TAG, None)]

    def test_an_image_without_a_tag_is_pinned_as_latest(
        self, shoal: Shoal, control: FakeControl, resolved: list[object]
    ) -> None:
        shoal("service", "create", "-d", "--name", "app", "127.0.0.1:5000/team/app")
        assert resolved[0] == ("127.0.0.1:5000/team/app:latest", None)

    def test_no_resolve_image_asks_no_registry(
        self, shoal: Shoal, control: FakeControl, resolved: list[object]
    ) -> None:
        result = shoal("service", "create", "-d", "--no-resolve-image", "--name", "app", TAG)
        assert result.code == 0
        assert _created(control, "app").spec.container.image == TAG
        assert resolved == []

    def test_an_image_no_registry_answers_for_warns_in_one_line_and_goes_on(
        self, shoal: Shoal, control: FakeControl, resolved: list[object]
    ) -> None:
        image = "127.0.0.1:5000/team/other:v2"
        result = shoal("service", "create", "-d", "--name", "app", image)
        assert result.code == 0
        [warning] = result.err.splitlines()
        assert warning == (
            f"image {image} could not be accessed on a registry to record its digest"
            f' (Head "http://x/v2/{image}": no basic auth credentials)'
            f"; each node will access {image} independently, possibly leading to different"
            " nodes running different versions of the image"
        )
        assert _created(control, "app").spec.container.image == image

    def test_update_image_pins_the_new_digest(
        self, shoal: Shoal, control: FakeControl, resolved: list[object]
    ) -> None:
        result = shoal("service", "update", "-d", "--image", TAG, "web")
        assert result.code == 0, result.err
        assert control.services[WEB_ID].spec.container.image == f"{TAG}@{DIGEST}"

    def test_an_update_without_image_asks_no_registry(
        self, shoal: Shoal, control: FakeControl, resolved: list[object]
    ) -> None:
        assert shoal("service", "update", "-d", "--replicas", "5", "web").code == 0
        assert resolved == []


class TestRegistryAuth:
    def test_with_registry_auth_sends_the_configurations_credentials(
        self,
        shoal: Shoal,
        control: FakeControl,
        resolved: list[tuple[str, m.RegistryAuth | None]],
        docker_config: Path,
    ) -> None:
        result = shoal("service", "create", "-d", "--with-registry-auth", "--name", "app", TAG)
        assert result.code == 0, result.err
        sent = convert.registry_auth_from_pb(control.creates[-1].registry_auth)
        assert sent == m.RegistryAuth("deploy", PASSWORD, "127.0.0.1:5000")
        # The digest is asked for with them too.
        assert resolved == [(TAG, sent)]

    def test_without_the_flag_no_credentials_leave_the_client(
        self,
        shoal: Shoal,
        control: FakeControl,
        resolved: list[tuple[str, m.RegistryAuth | None]],
        docker_config: Path,
    ) -> None:
        assert shoal("service", "create", "-d", "--name", "app", TAG).code == 0
        assert not control.creates[-1].HasField("registry_auth")
        assert resolved == [(TAG, None)]

    def test_update_with_registry_auth_sends_them(
        self,
        shoal: Shoal,
        control: FakeControl,
        resolved: list[object],
        docker_config: Path,
    ) -> None:
        result = shoal("service", "update", "-d", "--with-registry-auth", "--image", TAG, "web")
        assert result.code == 0, result.err
        assert control.updates[-1].registry_auth.password == PASSWORD


class TestShown:
    @pytest.fixture
    def pinned(self, control: FakeControl) -> FakeControl:
        web = control.services[WEB_ID]
        image = f"{TAG}@{DIGEST}"
        container = replace(web.spec.container, image=image)
        control.services[WEB_ID] = replace(web, spec=replace(web.spec, container=container))
        control.tasks = [
            replace(t, spec=replace(t.spec, image=image)) if t.service_id == WEB_ID else t
            for t in control.tasks
        ]
        return control

    def test_ls_and_ps_show_the_tag_and_inspect_the_digest(
        self, shoal: Shoal, pinned: FakeControl
    ) -> None:
        listed = [json.loads(line) for line in shoal("service", "ls", "--format", "json").lines]
        assert {r["Image"] for r in listed if r["Name"] == "web"} == {TAG}
        tasks = [
            json.loads(line) for line in shoal("service", "ps", "web", "--format", "json").lines
        ]
        assert {r["Image"] for r in tasks} == {TAG}
        untrimmed = shoal("service", "ps", "web", "--no-trunc", "--format", "json").lines
        assert {json.loads(line)["Image"] for line in untrimmed} == {f"{TAG}@{DIGEST}"}
        [document] = json.loads(shoal("service", "inspect", "web").out)
        assert document["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == f"{TAG}@{DIGEST}"

    def test_a_task_pulling_shows_how_far(self, shoal: Shoal, pinned: FakeControl) -> None:
        first = pinned.tasks[0]
        status = m.TaskStatus(
            m.TaskState.PREPARING, first.status.timestamp - timedelta(seconds=3),
            "pulling image (45%)",
        )  # fmt: skip
        pinned.tasks[0] = replace(first, status=status)
        records = [
            json.loads(line) for line in shoal("service", "ps", "web", "--format", "json").lines
        ]
        assert "Preparing: pulling image (45%)" in [r["CurrentState"] for r in records]
