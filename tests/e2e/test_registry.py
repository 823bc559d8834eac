"""Images pulled for real across the lab: a private registry on h1 (10.77.0.11:5000, htpasswd),
hosts that start without the image, credentials handed to the nodes that pull, the digest
pinned at create and moved only by an update, and a registry that goes away mid scale-up.

Images are pushed from the machine's own engine (DOCKER_HOST) through a second registry process
on loopback that serves the same storage: an engine takes a loopback registry for an insecure
one without being told, and the lab's engines are told about the lab's addresses."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import docker
import pytest

from tests.integration.cluster import free_port
from tests.lab import Lab
from tests.registry import Registry, build, push
from tests.waiting import SLEEPER, wait_for

# Pulls over the lab, on a loaded machine: bounds, not goals.
DEADLINE = 120


@dataclass
class Images:
    served: Registry
    pusher: Registry
    namespace: str
    engine: docker.APIClient
    # What `shoal` runs with: credentials in its docker configuration, and h1's engine to ask
    # for digests (the machine's own engine does not take the lab's registry for insecure).
    env: dict[str, str]

    def ref(self, name: str) -> str:
        return f"{self.served.addr}/{self.namespace}/{name}"

    def publish(self, name: str, version: str) -> tuple[str, str]:
        """Version version of name pushed as name:v1; (its image ID, its digest)."""
        local = f"{self.namespace}-local/{name}:{version}"
        image_id = build(self.engine, local, version)
        return image_id, push(self.engine, self.pusher, local, f"{self.namespace}/{name}:v1")


@pytest.fixture
def images(lab: Lab) -> Iterator[Images]:
    root = lab.root / "registry"
    h1 = lab.manager
    served = Registry(
        root / "served", f"{h1.addr}:5000", root / "storage", prefix=tuple(h1.inside())
    )
    pusher = Registry(
        root / "pusher", f"127.0.0.1:{free_port()}", root / "storage", password=served.password
    )
    engine = docker.from_env().api
    namespace = f"shoal-e2e-{uuid.uuid4().hex[:10]}"
    served.start()
    pusher.start()
    config = served.docker_config(root / "docker")
    env = {"DOCKER_CONFIG": str(config), "DOCKER_HOST": h1.docker_host}
    try:
        yield Images(served, pusher, namespace, engine, env)
    finally:
        served.stop()
        pusher.stop()
        for image in engine.images():
            names = [*(image.get("RepoTags") or []), *(image.get("RepoDigests") or [])]
            if any(namespace in name for name in names):
                engine.remove_image(image["Id"], force=True)
        engine.close()


def _image_ids(lab: Lab, service: str, count: int) -> dict[str, set[str]] | None:
    """host -> the image IDs the service's running containers there run, once count run."""
    found: dict[str, set[str]] = {}
    running = 0
    for host in lab.hosts:
        with host.engine() as api:
            for c in api.containers(filters={"label": f"shoal.service.name={service}"}):
                found.setdefault(host.name, set()).add(api.inspect_container(c["Id"])["Image"])
                running += 1
    return found if running == count else None


def _ps(lab: Lab, service: str) -> list[dict[str, str]]:
    return lab.json_lines("service", "ps", service, "--no-trunc")


def test_private_images_pinned_pulled_and_failing_across_the_lab(lab: Lab, images: Images) -> None:
    old_id, old_digest = images.publish("app", "1")
    tag = images.ref("app:v1")

    def shoal(*args: str) -> str:
        done = lab.shoal(*args, env=images.env)
        assert done.returncode == 0, f"shoal {' '.join(args)}: {done.stderr}"
        return done.stdout

    # Two hosts pull it, with the credentials the client had.
    shoal(
        "service", "create", "-d", "--with-registry-auth", "--name", "reg", "--replicas", "2",
        "--replicas-max-per-node", "1", tag, *SLEEPER,
    )  # fmt: skip
    two = wait_for(lambda: _image_ids(lab, "reg", 2), "2 tasks running", DEADLINE)
    assert set().union(*two.values()) == {old_id}
    [spec] = [d["Spec"] for d in json.loads(shoal("service", "inspect", "reg"))]
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == f"{tag}@{old_digest}"

    # The same image without --with-registry-auth: the registry turns the nodes away.
    shoal("service", "create", "-d", "--name", "noauth", tag, *SLEEPER)
    rejected = wait_for(
        lambda: [t for t in _ps(lab, "noauth") if t["CurrentState"].startswith("Rejected")],
        "a rejected task",
        DEADLINE,
    )
    assert "no basic auth credentials" in rejected[0]["Error"]
    shoal("service", "rm", "noauth")

    # The registry goes away during a scale-up: the host that lacks the image says why, then
    # runs the task once the registry is back.
    images.served.stop()
    try:
        shoal("service", "scale", "-d", "reg=3")
        failed = wait_for(
            lambda: [t for t in _ps(lab, "reg") if t["CurrentState"].startswith("Rejected")],
            "a task rejected for its pull",
            DEADLINE,
        )
        assert "connection refused" in failed[0]["Error"]
    finally:
        images.served.start()
    three = wait_for(lambda: _image_ids(lab, "reg", 3), "3 tasks running", DEADLINE)
    assert sorted(three) == ["h1", "h2", "h3"]
    assert set().union(*three.values()) == {old_id}

    # The tag moves; scaling keeps the digest the service was made with.
    new_id, new_digest = images.publish("app", "2")
    assert new_digest != old_digest
    shoal("service", "update", "-d", "--replicas-max-per-node", "0", "reg")
    shoal("service", "scale", "-d", "reg=6")
    six = wait_for(lambda: _image_ids(lab, "reg", 6), "6 tasks running", DEADLINE)
    assert set().union(*six.values()) == {old_id}

    # Only an update moves it, rolling every task over to the new digest.
    shoal(
        "service", "update", "-d", "--with-registry-auth", "--image", tag,
        "--update-parallelism", "3", "--update-monitor", "1s", "reg",
    )  # fmt: skip
    wait_for(
        lambda: (found := _image_ids(lab, "reg", 6)) and set().union(*found.values()) == {new_id},
        "6 tasks on the new digest",
        DEADLINE,
    )
    shown = _ps(lab, "reg")
    running = {t["Image"] for t in shown if t["CurrentState"].startswith("Running")}
    assert running == {f"{tag}@{new_digest}"}
    assert f"{tag}@{old_digest}" in {t["Image"] for t in shown}

    # The credentials are in no log file, no inspect output and not in the clear in the store.
    password = images.served.password
    assert password not in shoal("service", "inspect", "reg")
    for host in lab.hosts:
        assert password not in host.log.read_text(errors="replace"), host.name
        for stored in host.state_dir.rglob("*"):
            if stored.is_file():
                assert password.encode() not in stored.read_bytes(), stored
    shoal("service", "rm", "reg")
