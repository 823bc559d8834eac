"""The mesh's netfilter rules as iptables-restore input: pure text, so it is tested as text.

Every rule lives in chains of our own, written whole each time with `iptables-restore --noflush`,
which leaves every other chain alone and swaps ours in atomically per table (declaring a chain
flushes it). Per published port, SHOAL-INGRESS sends new connections to the node's own addresses
to the port's SHOAL-SVC chain, which picks one backend with kube-proxy's cascade of random
matches (rule i of n taken with probability 1/(n-i), so each is equally likely) and DNATs to it:
a task on this node at its container address, one elsewhere at its node's address and the port
published there. Connections so redirected are masqueraded on their way out, so replies come
back through this node, and accepted in FORWARD, whose policy docker sets to DROP.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from common.mesh_view import IngressPort
from common.publish import protocol_name

INGRESS_CHAIN = "SHOAL-INGRESS"
POSTROUTING_CHAIN = "SHOAL-POSTROUTING"
FORWARD_CHAIN = "SHOAL-FORWARD"
LOCALNET_CHAIN = "SHOAL-LOCALNET"
SERVICE_PREFIX = "SHOAL-SVC-"
_FIXED_CHAINS = (INGRESS_CHAIN, POSTROUTING_CHAIN, FORWARD_CHAIN, LOCALNET_CHAIN)
_FILTER_CHAINS = (FORWARD_CHAIN, LOCALNET_CHAIN)


@dataclass(frozen=True)
class Jump:
    """A rule in a built-in chain that enters one of ours; the only rules we put outside them."""

    table: str
    chain: str
    rule: tuple[str, ...]


# PREROUTING for traffic from elsewhere, OUTPUT for this node's own connections to its
# addresses, 127.0.0.1 included: the kernel routes a connection from 127.0.0.1 DNATed to
# another address only with route_localnet set (Netfilter.route_localnet), and MASQUERADE in
# SHOAL-POSTROUTING then gives it the node's address. route_localnet would also accept
# packets for 127.0.0.0/8 arriving from the network (kube-proxy's CVE-2020-8558), so
# SHOAL-LOCALNET, entered from INPUT, drops those.
JUMPS = (
    Jump("nat", "PREROUTING", ("-m", "addrtype", "--dst-type", "LOCAL", "-j", INGRESS_CHAIN)),
    Jump("nat", "OUTPUT", ("-m", "addrtype", "--dst-type", "LOCAL", "-j", INGRESS_CHAIN)),
    Jump("nat", "POSTROUTING", ("-j", POSTROUTING_CHAIN)),
    Jump("filter", "FORWARD", ("-j", FORWARD_CHAIN)),
    Jump("filter", "INPUT", ("-j", LOCALNET_CHAIN)),
)
# Jumps earlier versions put in, taken out when the agent starts and when the node leaves.
RETIRED_JUMPS = (
    Jump(
        "nat",
        "OUTPUT",
        ("!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", INGRESS_CHAIN),
    ),
)
LOCALNET_GUARD = (
    *("!", "-i", "lo", "-d", "127.0.0.0/8"),
    *("-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"),
)


def service_chain(port: IngressPort) -> str:
    """A name from the port's key, stable across restarts and nodes; netfilter allows 28
    characters, so a hash (as kube-proxy does)."""
    digest = hashlib.sha256(port.key.encode()).digest()
    return SERVICE_PREFIX + base64.b32encode(digest).decode()[:16]


def destinations(port: IngressPort, node_id: str) -> list[str]:
    """Where port's connections may go, as DNAT's ADDR:PORT. Container addresses repeat across
    nodes, so only this node's tasks are reached by theirs."""
    return [
        f"{b.container_ip}:{b.target}" if b.node_id == node_id else f"{b.addr}:{b.host_port}"
        for b in port.backends
        if (b.node_id == node_id and b.container_ip) or (b.node_id != node_id and b.host_port)
    ]


def probability(i: int, n: int) -> str:
    return f"{1 / (n - i):0.10f}"


def render(ports: Iterable[IngressPort], node_id: str, stale: Iterable[str] = ()) -> str:
    """The iptables-restore input that makes our chains say exactly this; stale: service chains
    that exist now and must go (flushed, then deleted, once nothing jumps to them)."""
    nat: list[str] = []
    post: list[str] = []
    forward: list[str] = []
    chains: list[str] = []
    for port in sorted(ports, key=lambda p: (p.protocol, p.published)):
        targets = destinations(port, node_id)
        if not targets:
            # No rule: the port is closed on this node until a task answers it.
            continue
        chain = service_chain(port)
        proto = protocol_name(port.protocol)
        chains.append(chain)
        match = ("-p", proto, "-m", proto, "--dport", str(port.published))
        nat.append(_rule(INGRESS_CHAIN, *match, "-j", chain))
        for i, target in enumerate(targets):
            pick = (
                (
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    probability(i, len(targets)),
                )
                if i < len(targets) - 1
                else ()
            )
            nat.append(_rule(chain, *pick, "-p", proto, "-j", "DNAT", "--to-destination", target))
        redirected = (
            *("-p", proto, "-m", "conntrack", "--ctstate", "DNAT"),
            *("--ctorigdstport", str(port.published)),
        )
        post.append(_rule(POSTROUTING_CHAIN, *redirected, "-j", "MASQUERADE"))
        forward.append(_rule(FORWARD_CHAIN, *redirected, "-j", "ACCEPT"))
    gone = sorted(set(stale) - set(chains))
    lines = ["*nat", *_declare([INGRESS_CHAIN, POSTROUTING_CHAIN, *chains, *gone])]
    lines += nat + post + [f"-X {chain}" for chain in gone]
    lines += ["COMMIT", "*filter", *_declare(_FILTER_CHAINS), *forward]
    lines += [_rule(LOCALNET_CHAIN, *LOCALNET_GUARD), "COMMIT"]
    return "\n".join(lines) + "\n"


def render_removal(chains: Sequence[str]) -> str:
    """Input that empties and deletes our chains, once the jumps to them are gone."""
    nat = [c for c in chains if c not in _FILTER_CHAINS]
    filt = [c for c in chains if c in _FILTER_CHAINS]
    lines = ["*nat", *_declare(nat), *(f"-X {c}" for c in nat), "COMMIT"]
    if filt:
        lines += ["*filter", *_declare(filt), *(f"-X {c}" for c in filt), "COMMIT"]
    return "\n".join(lines) + "\n"


def our_chains(save_output: str) -> list[str]:
    """The mesh's chains among those iptables-save lists (lines `:NAME POLICY [counters]`);
    not the cluster networks' SHOAL-NET-* chains, which their own jumps keep busy."""
    declared = (line[1:].split()[0] for line in save_output.splitlines() if line.startswith(":"))
    return [chain for chain in declared if is_ours(chain)]


def is_ours(chain: str) -> bool:
    return chain in _FIXED_CHAINS or chain.startswith(SERVICE_PREFIX)


def _declare(chains: Iterable[str]) -> list[str]:
    return [f":{chain} - [0:0]" for chain in chains]


def _rule(chain: str, *args: str) -> str:
    return " ".join(("-A", chain, *args))
