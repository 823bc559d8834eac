"""Cluster networks as docker's overlay networks (Network, NetworkCreateRequest)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.errors import InvalidArgument
from common.model import Network
from manager.docker_api.shapes.fields import Fields
from manager.docker_api.shapes.times import timestamp

OVERLAY = "overlay"
SWARM = "swarm"
# Where docker shows an overlay network's VXLAN ID.
VXLAN_OPTION = "com.docker.network.driver.overlay.vxlanid_list"


@dataclass(frozen=True)
class NetworkRequest:
    name: str
    subnet: str
    labels: dict[str, str]


def network_request_from_json(body: Any) -> NetworkRequest:
    n = Fields(body, "")
    name = n.text("Name")
    driver = n.text("Driver")
    if driver != OVERLAY:
        raise InvalidArgument(
            f"unsupported value {driver or 'bridge'!r} of field Driver: Shoal's networks are"
            " overlay networks (-d overlay)"
        )
    n.allow("Scope", SWARM)
    # Refusing a duplicate name is what Shoal does anyway.
    n.flag("CheckDuplicate")
    labels = n.labels("Labels")
    ipam = n.obj("IPAM")
    ipam.allow("Driver", "default")
    configs = ipam.objs("Config")
    if len(configs) > 1:
        raise InvalidArgument("unsupported field IPAM.Config: Shoal takes one subnet per network")
    subnet = ""
    for config in configs:
        subnet = config.text("Subnet")
        config.done()
    ipam.done()
    n.done()
    return NetworkRequest(name=name, subnet=subnet, labels=labels)


def network_to_json(network: Network) -> dict[str, Any]:
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": timestamp(network.meta.created_at),
        "Scope": SWARM,
        "Driver": OVERLAY,
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": None,
            # Each node's part of the subnet has a gateway of its own: there is no one to show.
            "Config": [{"Subnet": network.subnet}],
        },
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": {VXLAN_OPTION: str(network.vni)},
        "Labels": network.labels,
    }
