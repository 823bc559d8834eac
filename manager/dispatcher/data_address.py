"""The address other nodes reach a node at for overlay traffic: the manager's own node's is
known by how the process is put together; any other node's is the one its session comes from,
never what it claims."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from common.addrcheck import unicast_ipv4

log = structlog.get_logger("dispatcher")


@dataclass(frozen=True)
class LocalNode:
    """The manager's own node, known by how the process is put together, not by anything a
    node sends: the data address other nodes reach it at."""

    node_id: str
    data_addr: str


def data_address(local: LocalNode | None, node_id: str, claimed: str, addr: str) -> str:
    """The data address of node_id, whose session comes from addr and which claims claimed."""
    if local is not None and node_id == local.node_id:
        return local.data_addr
    # Whatever the node claims: a node cannot point others' overlay traffic elsewhere.
    data_addr = addr if unicast_ipv4(addr) is not None else ""
    if claimed and claimed != data_addr:
        log.warning(
            "node's claimed data address ignored",
            node_id=node_id,
            claimed=claimed[:40],
            using=data_addr,
        )
    return data_addr
