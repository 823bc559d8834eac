"""Names of what the agent makes on the host for a network, all derived from its ID so the agent
finds them again after a restart without keeping any state."""

from __future__ import annotations

ENGINE_PREFIX = "shoal-"
# Interface names are at most 15 bytes.
_SHORT = 10


def engine_network(network_id: str) -> str:
    return f"{ENGINE_PREFIX}{network_id}"


def network_of(engine_name: str) -> str | None:
    """The network ID an engine network of ours is named after; None for any other."""
    if not engine_name.startswith(ENGINE_PREFIX):
        return None
    return engine_name.removeprefix(ENGINE_PREFIX) or None


def bridge(network_id: str) -> str:
    return f"shb-{network_id[:_SHORT]}"


def vxlan(network_id: str) -> str:
    return f"shv-{network_id[:_SHORT]}"


VXLAN_PREFIX = "shv-"
