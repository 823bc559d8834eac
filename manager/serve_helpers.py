"""The manager server's small helpers: where it listens and dials itself, the names its
certificate serves, the election loops among managers, and the greeting it prints."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import grpc

from common.errors import Unavailable
from common.model import Cluster, NodeRole
from common.netaddr import join_host_port
from manager import join_secrets
from manager.data_key import DataKey
from manager.dispatcher import Dispatcher
from manager.leadership import Election, Keys, ManagerSet, follow_leases
from manager.store import EtcdStore


def local_target(listen_host: str, port: int) -> str:
    """Where this process's own worker dials: the listen address, or loopback for a wildcard."""
    if listen_host in ("", "0.0.0.0"):
        return join_host_port("127.0.0.1", port)
    if listen_host == "::":
        return join_host_port("::1", port)
    return join_host_port(listen_host, port)


def bind(server: grpc.aio.Server, addr: str, credentials: grpc.ServerCredentials | None) -> int:
    try:
        if credentials is None:
            return server.add_insecure_port(addr)
        return server.add_secure_port(addr, credentials)
    except RuntimeError:
        # gRPC's own text only says to raise its verbosity; the usual cause is plain.
        raise Unavailable(
            f"cannot listen on {addr}: the address is in use or not on this host"
            " (--log-level debug shows gRPC's detail)"
        ) from None


def server_names(advertise_host: str, listen_host: str, hostname: str) -> list[str]:
    names = [advertise_host, hostname, "localhost", "127.0.0.1", "::1"]
    if listen_host not in ("", "0.0.0.0", "::"):
        names.append(listen_host)
    return list(dict.fromkeys(names))


def elect(
    store: EtcdStore,
    managers: ManagerSet,
    lease: int,
    lead: Callable[[], Coroutine[Any, Any, None]],
    dispatcher: Dispatcher,
    group: asyncio.TaskGroup,
) -> list[asyncio.Task[None]]:
    """Among managers sharing the etcd prefix: follow the leases, campaign, lead when elected."""
    keys = Keys(store.prefix)

    async def term() -> None:
        try:
            await lead()
        finally:
            dispatcher.step_down()

    return [
        group.create_task(follow_leases(store.client, keys, managers)),
        group.create_task(Election(store, keys, managers, lease, term).run()),
    ]


def announce(
    created: bool, node_id: str, cluster: Cluster, data_key: DataKey, advertise: str
) -> None:
    """Like `docker swarm init`; the join command only at creation, since a daemon's stdout
    usually ends up in a journal, and tokens stay out of logs."""
    if not created:
        print(
            f"Cluster resumed: current node ({node_id}) is a manager.\n"
            "To add a worker, run `shoal join-token worker` for the join command.",
            flush=True,
        )
        return
    token = join_secrets.token(data_key, cluster, NodeRole.WORKER)
    print(
        f"Cluster initialized: current node ({node_id}) is now a manager.\n\n"
        "To add a worker to this cluster, run the following command:\n\n"
        f"    agent join {token} {advertise}\n",
        flush=True,
    )
