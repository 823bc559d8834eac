"""Published ports on the real engine: a task's container publishes its target on a port the
engine picks (what the mesh reaches it by) or on the one asked for (host mode), and the runtime
reports where. Talks to the engine through the agent's DockerRuntime, no cluster needed."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import docker
import pytest

from agent.engine_client import EngineClient
from agent.runtime.base import NODE_LABEL, TASK_LABEL, RunSpec
from agent.runtime.docker import DockerRuntime
from common.errors import ShoalError
from common.model import PortConfig, PortProtocol, PublishMode
from tests.http_probe import FAILED, fetch
from tests.integration.cluster import free_port
from tests.waiting import wait_for

IMAGE = "local/busybox:latest"
NODE = "it-published-ports"
HTTPD = ("sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www")


@pytest.fixture
async def runtime(engine: docker.APIClient) -> AsyncIterator[DockerRuntime]:
    """The engine the `engine` fixture checked; every container made here is removed after."""
    client = EngineClient(os.environ.get("DOCKER_HOST"))
    rt = DockerRuntime(client)
    yield rt
    for container in await rt.containers(NODE):
        with contextlib.suppress(ShoalError):
            await rt.remove(container.id)
    await client.close()


def spec(name: str, *ports: PortConfig) -> RunSpec:
    return RunSpec(
        name=f"it-ports-{name}",
        image=IMAGE,
        args=HTTPD,
        labels={NODE_LABEL: NODE, TASK_LABEL: name},
        ports=ports,
    )


async def test_engine_picked_port_is_reported_and_answers(runtime: DockerRuntime) -> None:
    udp = PortConfig(53, 0, PortProtocol.UDP)
    started = await runtime.run(spec("picked", PortConfig(80), udp))
    by_protocol = {b.protocol: b for b in started.ports}
    tcp = by_protocol[PortProtocol.TCP]
    assert tcp.target == 80
    assert tcp.host_port > 0
    assert tcp.container_ip.startswith("172.")
    assert by_protocol[PortProtocol.UDP].target == 53
    target = f"http://127.0.0.1:{tcp.host_port}/"
    await asyncio.to_thread(wait_for, lambda: fetch(target) != FAILED, "httpd to answer")
    assert fetch(target) == started.id[:12]
    inspected = await runtime.inspect(started.id)
    assert inspected is not None
    assert inspected.ports == started.ports


async def test_host_mode_port_is_bound_as_asked(runtime: DockerRuntime) -> None:
    port = free_port()
    host = PortConfig(80, port, PortProtocol.TCP, PublishMode.HOST)
    started = await runtime.run(spec("host", host))
    assert [(b.target, b.host_port) for b in started.ports] == [(80, port)]
