"""The cluster as docker's Swarm object, and the one SwarmSpec a client may send back: the one it
read (to rotate a join token), since Shoal's cluster settings are the manager's flags."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from common.model import Cluster
from manager.docker_api.shapes.fields import Fields
from manager.docker_api.shapes.times import nanos, timestamp

# UDP port of the VXLAN traffic between nodes (agent.overlay).
DATA_PATH_PORT = 4789


def swarm_to_json(
    cluster: Cluster, heartbeat: timedelta, cert_lifetime: timedelta
) -> dict[str, Any]:
    return {
        "ID": cluster.id,
        "Version": {"Index": cluster.meta.version},
        "CreatedAt": timestamp(cluster.meta.created_at),
        "UpdatedAt": timestamp(cluster.meta.updated_at),
        "Spec": {
            "Name": "default",
            "Labels": {},
            "Dispatcher": {"HeartbeatPeriod": nanos(heartbeat)},
            "CAConfig": {"NodeCertExpiry": nanos(cert_lifetime)},
        },
        "RootRotationInProgress": False,
        "DataPathPort": DATA_PATH_PORT,
    }


def check_unchanged(body: Any, heartbeat: timedelta, cert_lifetime: timedelta) -> None:
    """InvalidArgument naming the first field that differs from what swarm_to_json shows."""
    spec = Fields(body, "")
    spec.allow("Name", "default")
    dispatcher = spec.obj("Dispatcher")
    dispatcher.allow("HeartbeatPeriod", nanos(heartbeat))
    dispatcher.done()
    ca = spec.obj("CAConfig")
    ca.allow("NodeCertExpiry", nanos(cert_lifetime))
    ca.done()
    spec.done()
