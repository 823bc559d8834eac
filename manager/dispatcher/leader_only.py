"""Sessions are the leader's: a manager that does not lead refuses them, naming the leader, and
the leader tells every session where the managers are, so an agent can find the next one."""

from __future__ import annotations

from typing import Any

import grpc

from common import convert
from common.api import dispatcher_pb2 as pb
from common.model import ManagerList
from manager.leadership import ManagerSet

# Trailing metadata of a session a follower refuses: the leader's dispatcher, HOST:PORT.
LEADER_METADATA = "shoal-leader"


async def refuse(managers: ManagerSet, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    """End a session on a manager that does not lead, naming the one that does."""
    leader = managers.leader()
    if leader is None:
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            "this manager does not lead the cluster, and no manager leads at the moment",
        )
    else:
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"this manager does not lead the cluster: the leader is node {leader.node_id}"
            f" at {leader.addr}",
            ((LEADER_METADATA, leader.addr),),
        )


def manager_list(managers: ManagerSet) -> pb.ManagerMessage:
    """The managers' dispatchers, the leader first."""
    addrs = ManagerList(tuple(managers.addresses()))
    return pb.ManagerMessage(managers=convert.manager_list_to_pb(addrs))
