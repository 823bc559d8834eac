"""What the agent takes from the ingress view before it writes netfilter rules from it.

Defence in depth: a backend whose address or port could not be a DNAT destination (a newline,
a port past 65535) is skipped and logged; the port's other backends,
and every other port, are written as usual.
"""

from __future__ import annotations

from dataclasses import replace

import structlog

from common.addrcheck import unicast_ipv4, valid_port
from common.mesh_view import IngressBackend, IngressPort

log = structlog.get_logger("mesh")


def checked(port: IngressPort, node_id: str) -> IngressPort | None:
    """port with its bad backends left out; None when the port itself is bad."""
    if not valid_port(port.published):
        log.warning("ingress port skipped", service_id=port.service_id[:64], port=port.published)
        return None
    backends = []
    for backend in port.backends:
        problem = _problem(backend, node_id)
        if problem is None:
            backends.append(backend)
        else:
            log.warning(
                "ingress backend skipped", port=port.key, task_id=backend.task_id[:64], why=problem
            )
    return replace(port, backends=tuple(backends))


def _problem(backend: IngressBackend, node_id: str) -> str | None:
    if backend.node_id == node_id:
        # Reached at its container's address, which only means something here.
        if not backend.container_ip:
            return None
        if unicast_ipv4(backend.container_ip) is None or not valid_port(backend.target):
            return "invalid container address or port"
        return None
    if not backend.host_port:
        return None
    # Loopback stays allowed: nodes sharing one host (tests, demo) are there, and the kernel
    # drops a DNAT to it from elsewhere as martian anyway.
    if unicast_ipv4(backend.addr) is None or not valid_port(backend.host_port):
        return "invalid node address or port"
    return None
