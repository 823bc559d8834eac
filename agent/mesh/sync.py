"""MeshSync: holds the manager's routing-mesh view on this node and keeps our netfilter chains
saying it.

Changes are written by one loop, all of our chains at once, so bursts coalesce and writes never
interleave. Chains left by an earlier run (this agent restarted, or its ports went while it was
away) are found at start and removed with the first write, which waits for the manager's full
view: until then the rules in the kernel keep serving, as the containers keep running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import structlog

from agent.mesh.checks import checked
from agent.mesh.netfilter import Tables
from agent.mesh.rules import (
    JUMPS,
    SERVICE_PREFIX,
    destinations,
    render,
    render_removal,
    service_chain,
)
from agent.metrics import AgentMetrics
from agent.netfilter_drift import Expected, JumpTo, expected
from common.backoff import Backoff
from common.errors import ShoalError
from common.mesh_view import IngressPort

log = structlog.get_logger("mesh")


class MeshSync:
    def __init__(self, node_id: str, tables: Tables) -> None:
        self.node_id = node_id
        self._tables = tables
        self._ports: dict[str, IngressPort] = {}
        self._have_view = False
        self._dirty = asyncio.Event()
        # Service chains in the kernel, as of the last write (or the listing at start).
        self._present: set[str] = set()
        # What the last write put in the kernel, for the guard to compare with.
        self._written: Expected | None = None
        # Set by the guard: a jump may be gone too, so the next write puts them back first.
        self._jumps_lost = False
        self.writes = 0
        # The agent hands its own in; a mesh on its own (tests) counts into one nobody reads.
        self.metrics = AgentMetrics()
        self._log = log.bind(node_id=node_id)

    @property
    def tables(self) -> Tables:
        return self._tables

    @property
    def ports(self) -> dict[str, IngressPort]:
        return dict(self._ports)

    def apply(self, ports: Iterable[IngressPort], removed: Iterable[str], *, full: bool) -> None:
        if full:
            self._ports = {}
            self._have_view = True
        for port in ports:
            sound = checked(port, self.node_id)
            if sound is not None:
                self._ports[sound.key] = sound
        for key in removed:
            self._ports.pop(key, None)
        if self._have_view:
            self._dirty.set()

    async def run(self) -> None:
        backoff = Backoff(0.1, 2.0)
        while True:
            try:
                await self._start()
                break
            except ShoalError as exc:
                self._log.warning("netfilter not ready", error=str(exc))
                await asyncio.sleep(backoff.next_delay())
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            started = time.monotonic()
            try:
                await self._write()
                self.metrics.sync_latency.labels("mesh").observe(time.monotonic() - started)
                backoff.reset()
            except ShoalError as exc:
                self.metrics.sync_failures.labels("mesh").inc()
                self._log.error("writing the mesh rules failed", error=str(exc))
                self._dirty.set()
                await asyncio.sleep(backoff.next_delay())

    async def _start(self) -> None:
        self._present = {c for c in await self._tables.chains() if c.startswith(SERVICE_PREFIX)}
        await self._tables.route_localnet()
        await self._tables.ensure_jumps()

    def expected(self) -> Expected | None:
        return self._written

    def restore(self) -> None:
        self._jumps_lost = True
        self._dirty.set()

    async def _write(self) -> None:
        if self._jumps_lost:
            await self._tables.ensure_jumps()
            self._jumps_lost = False
        ports = list(self._ports.values())
        payload = render(ports, self.node_id, stale=self._present)
        await self._tables.restore(payload)
        self._written = expected(payload, (JumpTo(j.table, j.chain, j.rule[-1]) for j in JUMPS))
        self._present = {service_chain(p) for p in ports if destinations(p, self.node_id)}
        self.writes += 1
        self._log.debug("mesh rules written", ports=len(ports), chains=len(self._present))

    async def remove(self) -> None:
        """Take every rule of ours out of the kernel: the node leaves the cluster."""
        await self._tables.remove_jumps()
        await self._tables.restore(render_removal(await self._tables.chains()))
        self._present = set()
        self._written = None
