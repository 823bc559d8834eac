"""Which names resolve to what, for a container asking from a given address. Pure.

A container sees the services of its networks: NAME gives the service's virtual IP (vip mode)
or its running tasks' addresses (dnsrr mode), tasks.NAME the running tasks' addresses in either
mode; each of a service's aliases answers as its NAME does, unless a service has that name.
Names are not case-sensitive and may end with a dot.

The asker is known by its source address. The address of a running task says which service it
belongs to, and so every network the asker is on (all tasks of a service share its networks),
whichever of them the query came through; any other address (a task not yet reported running)
sees the network its address is on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from common.netview import NetworkView

TASKS_PREFIX = "tasks."


@dataclass(frozen=True)
class Records:
    by_network: tuple[tuple[IPv4Network, dict[str, list[str]]], ...] = field(default=())
    # A running task's address -> the indexes (in by_network) of its service's networks.
    members: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, view: NetworkView) -> Records:
        tables = []
        service_networks: dict[str, list[int]] = {}
        for index, network in enumerate(view.networks):
            table: dict[str, list[str]] = {}
            for endpoint in network.endpoints:
                name = endpoint.service_name.lower()
                tasks = list(endpoint.addresses)
                table[name] = [endpoint.virtual_ip] if endpoint.virtual_ip else tasks
                table[TASKS_PREFIX + name] = tasks
                service_networks.setdefault(name, []).append(index)
            # Aliases after every name: a service's own name wins over another's alias.
            for endpoint in network.endpoints:
                own = table[endpoint.service_name.lower()]
                tasks = table[TASKS_PREFIX + endpoint.service_name.lower()]
                for alias in endpoint.aliases:
                    table.setdefault(alias.lower(), own)
                    table.setdefault(TASKS_PREFIX + alias.lower(), tasks)
            tables.append((IPv4Network(network.subnet), table))
        members = {
            address: tuple(service_networks[endpoint.service_name.lower()])
            for network in view.networks
            for endpoint in network.endpoints
            for address in endpoint.addresses
        }
        return cls(tuple(tables), members)

    def lookup(self, name: str, source: str) -> list[str] | None:
        """The addresses name has for a container at source; None when it is not a name of
        the source's networks (the query then goes on to the host's resolvers)."""
        try:
            asker = IPv4Address(source)
        except ValueError:
            return None
        key = name.lower().rstrip(".")
        known = self.members.get(source)
        if known is None:
            known = tuple(i for i, (subnet, _) in enumerate(self.by_network) if asker in subnet)
        for index in known:
            table = self.by_network[index][1]
            if key in table:
                return table[key]
        return None
