"""Images from a real registry (Debian's docker-registry on loopback, with htpasswd
authentication): digests pinned at create and update, credentials handed to the nodes that
pull and kept out of sight, and pull failures that say why.

The engine is shared with other runs: every image here is under a repository of this module's
own, and removed at the end."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.docker_cli import CLIENTS, of_cluster, tag_of
from tests.integration.cluster import BIN, DEADLINE, Cluster, free_port
from tests.registry import Registry, build, push
from tests.waiting import SLEEPER, wait_for


@dataclass
class Images:
    registry: Registry
    namespace: str
    # image ID -> the local tag it was built under, for the clean-up.
    built: dict[str, str]

    def ref(self, name: str) -> str:
        return f"{self.registry.addr}/{self.namespace}/{name}"

    def publish(self, engine: docker.APIClient, name: str, version: str) -> tuple[str, str]:
        """Version version of image name pushed as name:v1; (its image ID, its digest)."""
        local = f"{self.namespace}-local/{name}:{version}"
        image_id = build(engine, local, version)
        self.built[image_id] = local
        return image_id, push(engine, self.registry, local, f"{self.namespace}/{name}:v1")


@pytest.fixture(scope="module")
def images(engine: docker.APIClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    root = tmp_path_factory.mktemp("registry")
    registry = Registry(root, f"127.0.0.1:{free_port()}", root / "storage")
    registry.start()
    found = Images(registry, f"shoal-it-{uuid.uuid4().hex[:10]}", {})
    try:
        yield found
    finally:
        registry.stop()
        # Set up before the cluster (tests name it first), so torn down after it: no container
        # of its holds these images any more.
        for image in engine.images():
            names = [*(image.get("RepoTags") or []), *(image.get("RepoDigests") or [])]
            if any(found.namespace in name for name in names):
                engine.remove_image(image["Id"], force=True)


@pytest.fixture
def credentials(images: Images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The client's docker configuration holds the registry's credentials; the password."""
    monkeypatch.setenv("DOCKER_CONFIG", str(images.registry.docker_config(tmp_path / "docker")))
    return images.registry.password


def _image_ids(cluster: Cluster, service: str, count: int) -> set[str] | None:
    found = cluster.running(service, count)
    if found is None:
        return None
    return {cluster.engine.inspect_container(c["Id"])["Image"] for c in found}


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("Error:")]


def test_a_private_image_runs_pinned_to_its_digest_with_the_users_credentials(
    images: Images, cluster: Cluster, engine: docker.APIClient, credentials: str
) -> None:
    image_id, digest = images.publish(engine, "web", "1")
    tag = images.ref("web:v1")
    started = time.time()
    cluster.ok(
        "service",
        "create",
        "--with-registry-auth",
        "--name",
        "priv",
        "--replicas",
        "3",
        tag,
        *SLEEPER,
    )
    assert wait_for(lambda: _image_ids(cluster, "priv", 3), "3 running tasks") == {image_id}

    [spec] = _inspect(cluster, "priv")
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == f"{tag}@{digest}"
    [listed] = cluster.ok("service", "ls", "--format", "json").json_lines()
    assert listed["Image"] == tag
    shown = cluster.ok("service", "ps", "priv", "--format", "json").json_lines()
    assert {t["Image"] for t in shown} == {tag}
    assert {t["Image"] for t in cluster.tasks("priv")} == {f"{tag}@{digest}"}

    # Nowhere to be read: not in inspect, the daemons' logs, the events, nor the store's files.
    events = _events(cluster, started)
    assert credentials not in cluster.ok("service", "inspect", "priv").out + events
    for daemon in [cluster.manager, *cluster.agents]:
        assert credentials not in daemon.log_text()
    for stored in (cluster.root / "manager").rglob("*"):
        if stored.is_file():
            assert credentials.encode() not in stored.read_bytes(), stored
    cluster.ok("service", "rm", "priv")


def test_without_registry_auth_the_tasks_are_rejected_with_the_registrys_reason(
    images: Images, cluster: Cluster, engine: docker.APIClient, credentials: str
) -> None:
    images.publish(engine, "closed", "1")
    tag = images.ref("closed:v1")
    result = cluster.shoal(
        "service", "create", "--name", "nocred", "--timeout", "4s", tag, *SLEEPER, timeout=DEADLINE
    )
    assert result.code == 2, result.err
    # Without credentials the registry gives no digest either: one line of warning, then on.
    warning, error = result.err.splitlines()
    assert warning.startswith(f"image {tag} could not be accessed on a registry")
    assert "no basic auth credentials" in warning
    assert error.startswith("Error: service nocred did not converge within 4 seconds: ")
    assert "no basic auth credentials" in error
    rejected = [t for t in cluster.tasks("nocred") if t["CurrentState"].startswith("Rejected")]
    assert rejected
    assert "no basic auth credentials" in rejected[0]["Error"]
    cluster.ok("service", "rm", "nocred")


def test_scaling_keeps_the_pinned_digest_and_only_an_update_moves_it(
    images: Images, cluster: Cluster, engine: docker.APIClient, credentials: str
) -> None:
    old_id, old_digest = images.publish(engine, "moving", "1")
    tag = images.ref("moving:v1")
    cluster.ok("service", "create", "--with-registry-auth", "--name", "moving", tag, *SLEEPER)
    wait_for(lambda: _image_ids(cluster, "moving", 1), "1 running task")
    new_id, new_digest = images.publish(engine, "moving", "2")
    assert new_digest != old_digest

    cluster.ok("service", "scale", "moving=3")
    assert wait_for(lambda: _image_ids(cluster, "moving", 3), "3 running tasks") == {old_id}

    cluster.ok("service", "update", "--with-registry-auth", "--image", tag, "moving")
    assert wait_for(lambda: _image_ids(cluster, "moving", 3), "3 tasks") == {new_id}
    [spec] = _inspect(cluster, "moving")
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == f"{tag}@{new_digest}"
    cluster.ok("service", "rm", "moving")


def test_a_pull_from_a_registry_that_is_down_says_why_and_runs_once_it_is_back(
    images: Images, cluster: Cluster, engine: docker.APIClient, credentials: str
) -> None:
    image_id, _ = images.publish(engine, "late", "1")
    tag = images.ref("late:v1")
    images.registry.stop()
    try:
        result = cluster.shoal(
            "service",
            "create",
            "--with-registry-auth",
            "--name",
            "late",
            "--timeout",
            "4s",
            tag,
            *SLEEPER,
        )
    finally:
        images.registry.start()
    assert result.code == 2, result.err
    [error] = _error_lines(result.err)
    assert error.startswith("Error: service late did not converge within 4 seconds: ")
    assert "connection refused" in error
    # The restart policy tries again, with backoff, and now the pull goes through.
    assert wait_for(lambda: _image_ids(cluster, "late", 1), "the task running", 90) == {image_id}
    cluster.ok("service", "rm", "late")


def _events(cluster: Cluster, since: float) -> str:
    """What `shoal events --since SINCE` replays; it follows on after, so it is cut off."""
    try:
        subprocess.run(
            [str(BIN / "shoal"), "events", "--since", f"{since:.3f}"],
            capture_output=True,
            env=cluster.env,
            timeout=3,
        )
    except subprocess.TimeoutExpired as cut:
        return (cut.stdout or b"").decode()
    raise AssertionError("shoal events ended by itself")


def _inspect(cluster: Cluster, service: str) -> list[dict[str, Any]]:
    documents = json.loads(cluster.ok("service", "inspect", service).out)
    return [document["Spec"] for document in documents]


@pytest.mark.parametrize("client", CLIENTS, ids=tag_of)
def test_the_docker_cli_pins_the_digest_and_hands_on_the_credentials(
    images: Images, cluster: Cluster, engine: docker.APIClient, client: Path
) -> None:
    """`docker service create --with-registry-auth` against the manager's Docker API: the CLI
    asks /distribution for the digest (with the user's credentials), pins it, and sends the
    credentials in X-Registry-Auth, which the nodes pull with and no answer shows."""
    name = f"dpriv-{tag_of(client)}"
    image_id, digest = images.publish(engine, name, "2")
    tag = images.ref(f"{name}:v1")
    cli = of_cluster(client, cluster)
    cli.env["DOCKER_CONFIG"] = str(images.registry.docker_config(cluster.root / f"cfg-{name}"))
    try:
        cli.ok("service", "create", "--detach", "--with-registry-auth", "--name", name,
               "--replicas", "2", tag, *SLEEPER)  # fmt: skip
        assert wait_for(lambda: _image_ids(cluster, name, 2), "2 running tasks") == {image_id}
        shown = cli.ok("service", "inspect", name)
        assert json.loads(shown)[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == (
            f"{tag}@{digest}"
        )
        assert images.registry.password not in shown
    finally:
        cli.run("service", "rm", name)
        wait_for(lambda: not cluster.containers(name), f"{name} gone")


def test_distribution_answers_docker_py_s_shape_and_docker_s_errors(
    images: Images, cluster: Cluster, engine: docker.APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, digest = images.publish(engine, "dist", "3")
    tag = images.ref("dist:v1")
    # requests would otherwise take the system's CA bundle over the cluster's (its issue 3829).
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(variable, raising=False)
    admin = cluster.root / "manager" / "admin"
    tls = docker.tls.TLSConfig(
        client_cert=(str(admin / "cert.pem"), str(admin / "key.pem")),
        ca_cert=str(admin / "ca.pem"),
        verify=True,
    )
    api = docker.APIClient(base_url=f"tcp://127.0.0.1:{cluster.docker_api_port}", tls=tls)
    auth = images.registry.auth
    config = {
        "username": auth.username,
        "password": auth.password,
        "serveraddress": auth.server_address,
    }
    try:
        found = api.inspect_distribution(tag, auth_config=config)  # type: ignore[no-untyped-call]
        assert found["Descriptor"]["digest"] == digest
        assert found["Descriptor"]["mediaType"].startswith("application/vnd.")
        assert found["Descriptor"]["size"] > 0
        assert isinstance(found["Platforms"], list)
        for ref, words in (
            (tag, "no basic auth credentials"),
            (f"127.0.0.1:{free_port()}/nobody/none:v1", "connection refused"),
            # Built here and never pushed: no registry is asked.
            ("local/busybox:latest", "in no registry"),
        ):
            with pytest.raises(docker.errors.APIError) as refused:
                api.inspect_distribution(ref, auth_config={})  # type: ignore[no-untyped-call]
            assert words in str(refused.value.explanation)
            assert refused.value.response is not None
            assert set(refused.value.response.json()) == {"message"}
    finally:
        api.close()
