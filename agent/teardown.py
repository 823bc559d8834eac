"""What a node going out of the cluster takes off its host: its containers (then their secret
and config files, with the tmpfs holding them) and, on a host that is its alone, its
routing-mesh rules, VXLAN devices, network rules and engine networks; then its identity. `agent
leave` does it, and so does an agent told on its session that its node was removed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from agent.engine_client import EngineClient
from agent.mesh.sync import MeshSync
from agent.overlay import links
from agent.overlay import rules as network_rules
from agent.overlay.engine import EngineNetworks
from agent.runtime.base import ContainerRuntime
from agent.task_files import TaskFiles, files_dir
from common import identity
from common.errors import ShoalError

log = structlog.get_logger("agent")

# Passes over the node's containers: a container whose creation was already on its way to the
# engine when the first pass listed them shows up only in a later listing, and one that another
# process is removing (`agent leave` beside the daemon) goes in its own time.
CONTAINER_PASSES = 10
PASS_DELAY = 0.3

HostCleanup = Callable[[], Awaitable[None]]


async def remove_host_networking(engine: EngineClient, cluster_id: str) -> None:
    """The VXLAN devices first (without its chain, a device takes frames from anyone), then the
    network rules, then the engine's bridge networks of the cluster (their containers are gone;
    another cluster's on the same engine stay)."""
    await links.delete_ours()
    await network_rules.remove()
    await EngineNetworks(engine, cluster_id).remove_all()


@dataclass
class Teardown:
    """ingress and host_networking: None on a host shared with other nodes (`--no-routing-mesh`),
    whose netfilter, devices and engine networks are not this node's to remove."""

    node_id: str
    runtime: ContainerRuntime
    state_dir: Path
    ingress: MeshSync | None = None
    host_networking: HostCleanup | None = None
    # The node's secrets and configs (default: those at files_dir(node_id)).
    files: TaskFiles | None = None

    async def run(self) -> list[str]:
        """Remove everything; the parts that could not be removed, each with why."""
        failed = []
        try:
            await self._remove_containers()
        except ShoalError as exc:
            failed.append(f"its containers ({exc})")
        else:
            # Only once no container has them mounted.
            files = self.files or TaskFiles(files_dir(self.node_id))
            await asyncio.to_thread(files.clear)
        if self.ingress is not None:
            try:
                await self.ingress.remove()
            except ShoalError as exc:
                failed.append(f"its routing-mesh rules ({exc})")
        if self.host_networking is not None:
            try:
                await self.host_networking()
            except ShoalError as exc:
                failed.append(f"its networks ({exc})")
        if failed:
            log.error("node teardown incomplete", failed=failed)
        else:
            identity.forget(self.state_dir)
        return failed

    @property
    def removes(self) -> str:
        """What run() takes off the host, in words."""
        if self.host_networking is None:
            return "its containers"
        return "its containers, networks and rules"

    async def _remove_containers(self) -> None:
        why = ""
        for _ in range(CONTAINER_PASSES):
            if why:
                await asyncio.sleep(PASS_DELAY)
            found = await self.runtime.containers(self.node_id)
            if not found:
                return
            why = ""
            for container in found:
                try:
                    await self.runtime.remove(container.id)
                except ShoalError as exc:
                    why = str(exc)
        raise ShoalError(f"{len(found)} still there" + (f": {why}" if why else ""))
