"""Makes this node's part of the cluster networks what the manager's latest view says.

Per network: the engine's bridge network on this node's slice, a VXLAN device on the bridge with
the other nodes as flood destinations, the virtual IPs as addresses of the bridge, and the name
server on the gateway address. Then the NAT and isolation rules of all networks at once. What the
view no longer holds goes; a step that fails (the engine still has a container on a network being
removed) is retried after a delay.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog

from agent.dns.server import NameService
from agent.engine_client import EngineClient
from agent.metrics import AgentMetrics
from agent.netfilter_drift import Expected
from agent.overlay import links, names, rules, view_checks
from agent.overlay.engine import EngineNetworks
from common.errors import ShoalError, Unavailable
from common.netview import NetworkView, NodeNetwork

log = structlog.get_logger("overlay")

RETRY_DELAY = 1.0
# How long a task waits for its networks to be made here before it is rejected.
ATTACH_TIMEOUT = 30.0


@dataclass(frozen=True)
class Attachments:
    """What a container of a task joins: the engine networks, and the name servers its engine's
    resolver passes unknown names on to (this node's gateway on each network)."""

    engine_networks: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What a reconcile changes: the networks whose local part goes, those the engine lacks,
    and VXLAN devices of ours that belong to no network of the view."""

    remove: frozenset[str]
    create: tuple[NodeNetwork, ...]
    stale_devices: frozenset[str]


def plan(view: NetworkView, engine: set[str], ready: set[str], devices: set[str]) -> Plan:
    """engine: the networks the engine has; ready: those set up here; devices: the host's
    VXLAN devices."""
    wanted = {n.id for n in view.networks}
    ours = {d for d in devices if d.startswith(names.VXLAN_PREFIX)}
    return Plan(
        remove=frozenset((engine | ready) - wanted),
        create=tuple(n for n in view.networks if n.id not in engine),
        stale_devices=frozenset(ours - {names.vxlan(n) for n in wanted}),
    )


class NodeNetworks:
    def __init__(self, engine: EngineNetworks, data_addr: str, names_service: NameService) -> None:
        self._engine = engine
        self._data_addr = data_addr
        self._dns = names_service
        self._view: NetworkView | None = None
        self._wake = asyncio.Event()
        # Networks whose local part is in place, for tasks waiting to attach.
        self._ready: dict[str, NodeNetwork] = {}
        self._ready_changed = asyncio.Condition()
        # Nothing of ours is on the host: an empty view needs no work (and no tool is run).
        self._clean = False
        # The rules the last reconcile wrote, for the guard to compare with.
        self._written: Expected | None = None
        self._metrics = AgentMetrics()

    def observe(self, metrics: AgentMetrics) -> None:
        """Count syncs and name queries into metrics (the agent's)."""
        self._metrics = metrics
        self._dns.metrics = metrics

    def apply(self, view: NetworkView) -> None:
        self._view = view_checks.checked(view)
        self._wake.set()

    def expected(self) -> Expected | None:
        return self._written

    def restore(self) -> None:
        """Reconcile the view again: its rules and their jumps are written whole."""
        self._wake.set()

    async def attach(self, network_ids: tuple[str, ...]) -> Attachments:
        """Wait until the networks are in place here; Unavailable after ATTACH_TIMEOUT."""
        if not network_ids:
            return Attachments()
        try:
            async with asyncio.timeout(ATTACH_TIMEOUT), self._ready_changed:
                await self._ready_changed.wait_for(
                    lambda: all(n in self._ready for n in network_ids)
                )
        except TimeoutError:
            missing = [n for n in network_ids if n not in self._ready]
            raise Unavailable(f"network {', '.join(missing)} not available on this node") from None
        return Attachments(
            engine_networks=tuple(names.engine_network(n) for n in network_ids),
            dns=tuple(self._ready[n].gateway for n in network_ids),
        )

    async def run(self) -> None:
        """Reconcile each time the view changes, until cancelled; nothing before the first view,
        so a restarted agent never tears down what its running containers use."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._view is None:
                continue
            started = time.monotonic()
            try:
                done = await self._reconcile(self._view)
                self._metrics.sync_latency.labels("network").observe(time.monotonic() - started)
            except ShoalError as exc:
                log.warning("network setup failed", error=str(exc))
                done = False
            except Exception:
                # A bug, not a host's answer: say so loudly, and keep the agent and its tasks up.
                log.exception("network setup crashed")
                done = False
            if not done:
                self._metrics.sync_failures.labels("network").inc()
                await asyncio.sleep(RETRY_DELAY)
                self._wake.set()

    async def close(self) -> None:
        await self._dns.close()

    async def _reconcile(self, view: NetworkView) -> bool:
        """True when everything is as view says."""
        if not view.networks and not self._ready and self._clean:
            return True
        complete = True
        present = set(await self._engine.present({n.id for n in view.networks}))
        changes = plan(view, present, set(self._ready), await links.vxlan_devices())
        for network_id in changes.remove:
            complete &= await self._remove(network_id)
        for device in changes.stale_devices:
            await links.delete_link(device)
        for network in changes.create:
            await self._engine.create(network)
            log.info("network created here", network_id=network.id, slice=network.slice)
        for network in view.networks:
            bridge = names.bridge(network.id)
            await links.ensure_vxlan(names.vxlan(network.id), network.vni, self._data_addr, bridge)
            await links.set_peers(names.vxlan(network.id), network.peers)
            vips = [e.virtual_ip for e in network.endpoints if e.virtual_ip]
            await links.set_host_addresses(bridge, vips)
            await self._dns.listen(network.gateway)
            async with self._ready_changed:
                self._ready[network.id] = network
                self._ready_changed.notify_all()
        self._dns.update(view)
        await rules.apply(view)
        self._written = rules.expected(view)
        self._clean = complete and not view.networks
        return complete

    async def _remove(self, network_id: str) -> bool:
        gone = self._ready.pop(network_id, None)
        if gone is not None:
            self._dns.stop(gone.gateway)
        await links.delete_link(names.vxlan(network_id))
        try:
            removed = await self._engine.remove(network_id)
        except ShoalError as exc:
            # Most likely a container still attached, on its way out: try again shortly.
            log.info("network not removed yet", network_id=network_id, error=str(exc))
            return False
        if removed:
            log.info("network removed here", network_id=network_id)
        return True


def node_networks(engine: EngineClient, cluster_id: str, data_addr: str) -> NodeNetworks:
    """The real thing: the node's engine, VXLAN from data_addr, the host's resolvers."""
    return NodeNetworks(EngineNetworks(engine, cluster_id), data_addr, NameService())
