"""Netfilter rules of the cluster networks, in chains of their own (prefix SHOAL-NET-), each
table rewritten whole and atomically with `iptables-restore --noflush` (which leaves every other
chain, docker's and the routing mesh's, as it is).

- nat SHOAL-NET-VIP (from PREROUTING): a connection to a service's virtual IP, coming from the
  network's bridge, goes to one of the running tasks, picked at random with equal chances.
- nat SHOAL-NET-SNAT (from POSTROUTING): such connections leave with the node's own address on
  the network, so the replies, which would otherwise go straight to the client over the shared
  L2, come back through this node's connection tracking to be translated back.
- filter SHOAL-NET-INPUT (from INPUT): a virtual IP with no task running refuses at once
  (a TCP reset) rather than reach whatever listens on the host.
- filter SHOAL-NET-ISOLATE (from FORWARD): nothing from a network's bridge to any other cluster
  network's subnet, so networks stay apart whether or not this node has the other one.
- filter SHOAL-NET-VXLAN (from INPUT): VXLAN frames only from the networks' peers (vxlan_filter).
"""

from __future__ import annotations

from agent.netfilter_drift import Expected, JumpTo
from agent.netfilter_drift import expected as drift_expected
from agent.overlay import names, vxlan_filter
from agent.overlay.command import run
from common.netview import NetworkView

VIP = "SHOAL-NET-VIP"
SNAT = "SHOAL-NET-SNAT"
INPUT = "SHOAL-NET-INPUT"
ISOLATE = "SHOAL-NET-ISOLATE"
VXLAN = vxlan_filter.CHAIN
# (table, chain, the built-in chain that jumps to it)
CHAINS = (
    ("nat", VIP, "PREROUTING"),
    ("nat", SNAT, "POSTROUTING"),
    ("filter", INPUT, "INPUT"),
    ("filter", ISOLATE, "FORWARD"),
    ("filter", VXLAN, "INPUT"),
)


def restore_text(view: NetworkView) -> str:
    """The input of iptables-restore --noflush for the view: each chain declared (which flushes
    it) and filled."""
    nat: list[str] = []
    filt: list[str] = []
    local_subnets = [n.subnet for n in view.networks]
    for network in view.networks:
        bridge = names.bridge(network.id)
        for endpoint in network.endpoints:
            if not endpoint.virtual_ip:
                continue
            vip = f"{endpoint.virtual_ip}/32"
            backends = endpoint.addresses
            for index, backend in enumerate(backends):
                left = len(backends) - index
                pick = (
                    f"-m statistic --mode random --probability {1 / left:.5f} " if left > 1 else ""
                )
                nat.append(
                    f"-A {VIP} -i {bridge} -d {vip} {pick}-j DNAT --to-destination {backend}"
                )
            filt.append(f"-A {INPUT} -d {vip} -p tcp -j REJECT --reject-with tcp-reset")
            filt.append(f"-A {INPUT} -d {vip} -j REJECT --reject-with icmp-port-unreachable")
        nat.append(
            f"-A {SNAT} -o {bridge} -m conntrack --ctstate DNAT --ctorigdst {network.subnet}"
            " -j MASQUERADE"
        )
        others = [s for s in (*local_subnets, *view.foreign_subnets) if s != network.subnet]
        filt.extend(f"-A {ISOLATE} -i {bridge} -d {other} -j DROP" for other in others)
    filt.extend(vxlan_filter.rules(view))
    return "".join(
        [
            "*nat\n",
            f":{VIP} - [0:0]\n:{SNAT} - [0:0]\n",
            *(line + "\n" for line in nat),
            "COMMIT\n*filter\n",
            f":{INPUT} - [0:0]\n:{ISOLATE} - [0:0]\n:{VXLAN} - [0:0]\n",
            *(line + "\n" for line in filt),
            "COMMIT\n",
        ]
    )


def expected(view: NetworkView) -> Expected | None:
    """What apply(view) leaves in the kernel; None when that is nothing."""
    if not view.networks:
        return None
    return drift_expected(
        restore_text(view), (JumpTo(table, parent, chain) for table, chain, parent in CHAINS)
    )


async def apply(view: NetworkView) -> None:
    """Rewrite the chains for view; with no network left, remove them and their jumps."""
    if not view.networks:
        await remove()
        return
    await run("iptables-restore", "--noflush", stdin=restore_text(view))
    for table, chain, parent in CHAINS:
        code, _ = await run("iptables", "-t", table, "-C", parent, "-j", chain, check=False)
        if code != 0:
            # First: ahead of docker's own rules, which would otherwise take VIP traffic
            # (a local address) into its published-port chains.
            await run("iptables", "-t", table, "-I", parent, "1", "-j", chain)


async def remove() -> None:
    for table, chain, parent in CHAINS:
        while (await run("iptables", "-t", table, "-D", parent, "-j", chain, check=False))[0] == 0:
            pass
        await run("iptables", "-t", table, "-F", chain, check=False)
        await run("iptables", "-t", table, "-X", chain, check=False)
