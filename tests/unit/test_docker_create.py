"""agent.runtime.docker's container creation, down to the JSON docker-py would send, with a
docker-py client whose HTTP calls are recorded instead of made."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import docker

from agent.engine_client import EngineClient
from agent.runtime.base import TASK_LABEL, RunSpec
from agent.runtime.docker import DockerRuntime
from common.model import HealthCheck, Mount, MountType


class RecordingAPI(docker.APIClient):
    """Builds requests as docker-py does, answers as an engine whose container has State.Health
    when asked for a check."""

    def __init__(self) -> None:
        super().__init__(base_url="unix:///nonexistent.sock", version="1.45")
        self.created: dict[str, Any] = {}

    def create_container_from_config(
        self, config: dict[str, Any], name: str | None = None, platform: str | None = None
    ) -> dict[str, str]:
        self.created = config
        return {"Id": "c1"}

    def start(self, container: object) -> None:
        return None

    def inspect_container(self, container: object) -> dict[str, Any]:
        state: dict[str, Any] = {"Running": True, "ExitCode": 0}
        if self.created.get("Healthcheck"):
            state["Health"] = {"Status": "starting", "FailingStreak": 0}
        return {"Id": container, "State": state, "Config": {"Labels": self.created["Labels"]}}


async def create(spec: RunSpec) -> tuple[dict[str, Any], Any]:
    api = RecordingAPI()
    engine = EngineClient(None)
    engine._api = api
    runtime = DockerRuntime(engine)
    info = await runtime.run(spec)
    return api.created, info


async def test_every_setting_reaches_the_request() -> None:
    """Hostname, entrypoint, user, workdir, stop signal, health check (in ns), mounts, init and
    read-only root are in the create request; the answer carries the container's health."""
    spec = RunSpec(
        name="web.1.t1",
        image="busybox",
        args=("echo hi",),
        labels={TASK_LABEL: "t1"},
        hostname="web-1",
        entrypoint=("sh", "-c"),
        user="1000",
        workdir="/srv",
        mounts=(
            Mount(MountType.BIND, "/data", source="/srv/data", read_only=True),
            Mount(MountType.TMPFS, "/scratch"),
        ),
        stop_signal="SIGINT",
        init=True,
        read_only=True,
        healthcheck=HealthCheck(
            test=("CMD-SHELL", "true"), interval=timedelta(milliseconds=200), retries=2
        ),
    )
    config, info = await create(spec)
    assert (config["Hostname"], config["User"], config["WorkingDir"]) == ("web-1", "1000", "/srv")
    assert (config["Entrypoint"], config["Cmd"]) == (["sh", "-c"], ["echo hi"])
    assert config["StopSignal"] == "SIGINT"
    assert config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 200_000_000,
        "Timeout": 0,
        "Retries": 2,
        "StartPeriod": 0,
    }
    host = config["HostConfig"]
    assert (host["Init"], host["ReadonlyRootfs"]) == (True, True)
    assert [(m["Type"], m["Source"], m["Target"], m["ReadOnly"]) for m in host["Mounts"]] == [
        ("bind", "/srv/data", "/data", True),
        ("tmpfs", "", "/scratch", False),
    ]
    assert (info.id, info.task_id, info.running, info.health) == ("c1", "t1", True, "starting")


async def test_a_plain_spec_leaves_everything_to_image_and_engine() -> None:
    """Nothing set: none of those keys is sent, so the image's and engine's defaults apply."""
    config, info = await create(RunSpec(name="web.1.t1", image="busybox"))
    for key in ("Hostname", "User", "WorkingDir", "Entrypoint", "StopSignal", "Healthcheck"):
        assert not config.get(key), key
    assert not {"Init", "ReadonlyRootfs", "Mounts"} & set(config["HostConfig"])
    assert info.health == ""


async def test_no_healthcheck_is_sent_as_none() -> None:
    """--no-healthcheck becomes docker's ["NONE"] test, which turns the image's check off."""
    config, _ = await create(
        RunSpec(name="web.1.t1", image="busybox", healthcheck=HealthCheck(test=("NONE",)))
    )
    assert config["Healthcheck"]["Test"] == ["NONE"]
