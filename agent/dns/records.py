"""Which names resolve to what, for a container asking from a given address. Pure.

A container sees the services of the network its address is on: NAME gives the service's
virtual IP (vip mode) or its running tasks' addresses (dnsrr mode), tasks.NAME the running
tasks' addresses in either mode. Names are not case-sensitive and may end with a dot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from common.netview import NetworkView

TASKS_PREFIX = "tasks."


@dataclass(frozen=True)
class Records:
    by_network: tuple[tuple[IPv4Network, dict[str, list[str]]], ...] = field(default=())

    @classmethod
    def of(cls, view: NetworkView) -> Records:
        tables = []
        for network in view.networks:
            table: dict[str, list[str]] = {}
            for endpoint in network.endpoints:
                name = endpoint.service_name.lower()
                tasks = list(endpoint.addresses)
                table[name] = [endpoint.virtual_ip] if endpoint.virtual_ip else tasks
                table[TASKS_PREFIX + name] = tasks
            tables.append((IPv4Network(network.subnet), table))
        return cls(tuple(tables))

    def lookup(self, name: str, source: str) -> list[str] | None:
        """The addresses name has for a container at source; None when it is not a name of
        the source's networks (the query then goes on to the host's resolvers)."""
        try:
            asker = IPv4Address(source)
        except ValueError:
            return None
        key = name.lower().rstrip(".")
        for subnet, table in self.by_network:
            if asker in subnet and key in table:
                return table[key]
        return None
