"""The VXLAN device of a network and what hangs off the bridge: peers in the VXLAN forwarding
table, virtual IPs as addresses of the bridge (so the node answers ARP for them and NATs them)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from agent.overlay import names
from agent.overlay.command import run

VXLAN_PORT = 4789
# VXLAN adds 50 bytes to each frame; underlays here carry 1500.
MTU = 1450
ALL_ZERO = "00:00:00:00:00:00"


async def vxlan_devices() -> set[str]:
    """Names of the VXLAN devices on the host."""
    _, out = await run("ip", "-j", "link", "show", "type", "vxlan")
    return {link["ifname"] for link in json.loads(out or "[]")}


async def ensure_vxlan(name: str, vni: int, local: str, bridge: str) -> None:
    if name not in await vxlan_devices():
        # Learning on: after the first flooded frame each peer's MACs go to that peer alone.
        await run(
            "ip", "link", "add", name, "type", "vxlan", "id", str(vni),
            "dstport", str(VXLAN_PORT), "local", local,
        )  # fmt: skip
    await run("ip", "link", "set", name, "master", bridge, "mtu", str(MTU), "up")
    # The engine brings its bridge up only once a container joins; the name server binds first.
    await run("ip", "link", "set", bridge, "up")


async def delete_link(name: str) -> None:
    await run("ip", "link", "del", name, check=False)


async def delete_ours() -> None:
    """Every VXLAN device of ours: a node leaving takes no more frames from anyone."""
    for device in await vxlan_devices():
        if device.startswith(names.VXLAN_PREFIX):
            await delete_link(device)


async def set_peers(device: str, peers: Iterable[str]) -> None:
    """Flood entries: broadcast and unknown frames go to each peer (head-end replication)."""
    _, out = await run("bridge", "-j", "fdb", "show", "dev", device)
    have = {e["dst"] for e in json.loads(out or "[]") if e.get("mac") == ALL_ZERO and "dst" in e}
    want = set(peers)
    for peer in sorted(want - have):
        await run("bridge", "fdb", "append", ALL_ZERO, "dev", device, "dst", peer)
    for peer in sorted(have - want):
        await run("bridge", "fdb", "del", ALL_ZERO, "dev", device, "dst", peer, check=False)


async def set_host_addresses(bridge: str, addresses: Iterable[str]) -> None:
    """The bridge's /32 addresses (the virtual IPs) become exactly addresses; its own gateway
    address, which the engine gave it with the subnet's prefix, is left alone."""
    _, out = await run("ip", "-j", "-4", "addr", "show", "dev", bridge)
    have = {
        a["local"]
        for link in json.loads(out or "[]")
        for a in link.get("addr_info", [])
        if a.get("prefixlen") == 32
    }
    want = set(addresses)
    for address in sorted(want - have):
        await run("ip", "addr", "add", f"{address}/32", "dev", bridge)
    for address in sorted(have - want):
        await run("ip", "addr", "del", f"{address}/32", "dev", bridge, check=False)
