"""The manager's ports: one for everything authenticated, the next one up for joining."""

from __future__ import annotations

from common.netaddr import join_host_port, split_host_port

DEFAULT_PORT = 7462


def join_addr(manager_addr: str) -> str:
    """Where a manager reached at manager_addr serves joins: the same host, the port above.

    Joining needs a port of its own: gRPC Python can either require a client certificate on a
    port or not ask for one, and a joining node has none yet.
    """
    host, port = split_host_port(manager_addr, DEFAULT_PORT)
    return join_host_port(host, port + 1)
