"""The manager process: store, gRPC server, background loops, its own worker, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog

from agent.runtime.base import ContainerRuntime
from agent.session import Agent
from common import tokens
from common.api import control_pb2_grpc, dispatcher_pb2_grpc
from common.errors import Unavailable
from common.model import Availability, Cluster
from common.netaddr import join_host_port, split_host_port
from manager.bootstrap import bootstrap
from manager.control import Control
from manager.dispatcher import Dispatcher
from manager.orchestrator.loop import Orchestrator
from manager.placement import Placement
from manager.store import SqliteStore

log = structlog.get_logger("manager")

DEFAULT_PORT = 7462
STATE_FILE = "state.db"
# Agents hold one stream each and ping it; without these the server would refuse the pings.
SERVER_OPTIONS = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 1000),
    ("grpc.http2.max_ping_strikes", 0),
]


@dataclass(frozen=True)
class ManagerConfig:
    listen: str
    advertise: str
    state_dir: Path
    docker_host: str | None
    heartbeat_period: float = 1.0
    availability: Availability | None = None
    hostname: str = ""


def _local_target(listen_host: str, port: int) -> str:
    """Where this process's own worker dials: the listen address, or loopback for a wildcard."""
    if listen_host in ("", "0.0.0.0"):
        return join_host_port("127.0.0.1", port)
    if listen_host == "::":
        return join_host_port("::1", port)
    return join_host_port(listen_host, port)


@dataclass(frozen=True)
class Started:
    """What a caller learns once the manager serves: the bound port and its own node."""

    port: int
    node_id: str


async def serve(
    config: ManagerConfig,
    runtime: ContainerRuntime,
    stop: asyncio.Event,
    started: Callable[[Started], None] | None = None,
) -> None:
    """Serve until stop is set. runtime runs this host's own tasks; the caller closes it."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    config.state_dir.chmod(0o700)
    listen_host, port = split_host_port(config.listen, DEFAULT_PORT)
    advertise_addr = join_host_port(*split_host_port(config.advertise, port))
    hostname = config.hostname or socket.gethostname()
    store = await SqliteStore.open(config.state_dir / STATE_FILE)
    try:
        boot = await bootstrap(
            store, config.state_dir, advertise_addr, hostname, config.availability
        )
        structlog.contextvars.bind_contextvars(cluster_id=boot.cluster.id)
        server = grpc.aio.server(options=SERVER_OPTIONS)
        dispatcher = Dispatcher(store, config.heartbeat_period)
        dispatcher_pb2_grpc.add_DispatcherServicer_to_server(dispatcher, server)
        control_pb2_grpc.add_ControlServicer_to_server(
            Control(store, advertise_addr, boot.node_id), server
        )
        listen_addr = join_host_port(listen_host or "0.0.0.0", port)
        try:
            bound = server.add_insecure_port(listen_addr)
        except RuntimeError as exc:
            raise Unavailable(f"cannot listen on {listen_addr}: {exc}") from None
        await server.start()
        try:
            _announce(boot.created, boot.node_id, boot.cluster, advertise_addr)
            log.info(
                "manager listening", port=bound, advertise=advertise_addr, node_id=boot.node_id
            )
            local = Agent(boot.node_id, _local_target(listen_host, bound), runtime, hostname)
            async with asyncio.TaskGroup() as group:
                loops = [
                    group.create_task(dispatcher.run()),
                    group.create_task(Orchestrator(store).run()),
                    group.create_task(Placement(store).run()),
                    group.create_task(local.run()),
                ]
                if started is not None:
                    started(Started(port=bound, node_id=boot.node_id))
                await stop.wait()
                log.info("manager stopping")
                for task in loops:
                    task.cancel()
        finally:
            # Containers keep running: a stopped manager is not a reason to stop workloads.
            await server.stop(grace=1)
    finally:
        with contextlib.suppress(Exception):
            await store.close()


def _announce(created: bool, node_id: str, cluster: Cluster, advertise: str) -> None:
    token = tokens.JoinToken(digest=cluster.digest, secret=cluster.worker_secret)
    if created:
        print(f"Cluster initialized: current node ({node_id}) is now a manager.\n", flush=True)
    else:
        print(f"Cluster resumed: current node ({node_id}) is a manager.\n", flush=True)
    print(
        "To add a worker to this cluster, run the following command:\n\n"
        f"    agent join {token} {advertise}\n",
        flush=True,
    )
