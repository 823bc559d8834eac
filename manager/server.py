"""The manager process: store, gRPC server, background loops, its own worker, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import structlog
from prometheus_client import CollectorRegistry

from common import key_files, message_limits
from common.api import (
    admin_pb2_grpc,
    control_pb2_grpc,
    dispatcher_pb2_grpc,
    membership_pb2_grpc,
    system_pb2_grpc,
)
from common.key_files import unlock_message
from common.metrics_server import MetricsAddr, MetricsServer
from common.model import Availability
from common.netaddr import default_address, join_host_port, split_host_port
from common.ports import DEFAULT_PORT, reserved_ports
from common.tls import Bundle
from manager import join_secrets
from manager.admin_certs import AdminCertificates
from manager.allocator.stage import Allocator
from manager.auth import Authenticator
from manager.autolock import AutolockSync, at_creation
from manager.bootstrap import NODE_DIR, bootstrap, refresh_admin_bundle
from manager.cluster_gauges import ClusterGauges
from manager.control import AdminOnly, Control
from manager.control_metrics import ControlMetrics
from manager.data_key import DataKey
from manager.dispatcher import Dispatcher
from manager.dispatcher.data_address import LocalNode
from manager.dispatcher.mesh_feed import MeshFeed
from manager.docker_api import DEFAULT_PORT as DOCKER_API_PORT
from manager.docker_api import Backend, DockerApiServer
from manager.docker_api.distribution import Distribution
from manager.join import JoinService, join_server
from manager.leadership import DEFAULT_LEASE, ManagerSet
from manager.leadership.forward import LeaderForwarding
from manager.locked import wait_for_unlock
from manager.membership import Membership
from manager.metrics import ManagerMetrics
from manager.orchestrator.loop import Orchestrator
from manager.orchestrator.updater import Updater
from manager.placement import PlacementLoop
from manager.rotation_end import end_rotations
from manager.sealed_reaper import VersionReaper
from manager.serve_helpers import announce, bind, elect, local_target, server_names
from manager.service_counts import ServiceCounts
from manager.serving import ServingCertificate
from manager.store import EtcdStore
from manager.store.choice import open_store
from manager.store.etcd_tls import EtcdTls
from manager.system import ManagerFacts, System

log = structlog.get_logger("manager")

STATE_FILE = "state.db"
TLS_DIR = "tls"
# Agents hold one stream each and ping it; without these the server would refuse the pings.
SERVER_OPTIONS = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 1000),
    ("grpc.http2.max_ping_strikes", 0),
    # Off: each heartbeat received made the server send a BDP ping to size a window that small
    # messages never fill; a quarter of an idle manager's CPU at 1,000 nodes (bench.scale).
    ("grpc.http2.bdp_probe", 0),
    # gRPC holds a call that came while the event loop was too busy to take it, and cancels it
    # after 30 s by default: at 10,000 nodes, the burst's CreateService calls and hundreds of
    # agents' sessions ended CANCELLED that way (bench.scale). A call now waits for the loop
    # until its own deadline, which every client call but an agent's session carries.
    ("grpc.server_max_unrequested_time_in_server", 600),
    *message_limits.OPTIONS,
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
    cert_lifetime: timedelta = timedelta(days=90)
    # Program this host's netfilter for published ingress ports (agent.mesh).
    routing_mesh: bool = False
    # Where to serve /metrics; None: nowhere.
    metrics_addr: MetricsAddr | None = None
    # etcd://HOST:PORT[,HOST:PORT...][/PREFIX] to keep the state in etcd; None: the SQLite file
    # in state_dir.
    store_url: str | None = None
    # TLS to etcd (--etcd-cacert/--etcd-cert/--etcd-key); None: plaintext, unless etcds://.
    etcd_tls: EtcdTls | None = None
    # HOST:PORT to serve the Docker Engine API on (manager.docker_api); None: nowhere.
    docker_api_addr: str | None = None
    # Seconds of the etcd lease a leader holds (etcd: whole seconds, 2 at least).
    leader_lease: int = DEFAULT_LEASE
    # Create the cluster with autolock on (`manager serve --autolock`, manager.autolock).
    autolock: bool = False


def data_address(advertise: str) -> str:
    """Where other nodes send this host's overlay traffic: the advertised address, or the
    default route's when the advertised one names no interface."""
    host, _ = split_host_port(advertise, DEFAULT_PORT)
    return default_address() if host in ("", "0.0.0.0", "::") else host


@dataclass(frozen=True)
class NodeSeat:
    """What the manager hands the runner of its own node: who it is, where it reaches the
    manager, its credentials and state dir, and the registry its metrics join."""

    node_id: str
    target: str
    hostname: str
    bundle: Bundle
    state_dir: Path
    registry: CollectorRegistry


# Runs the manager's own node until cancelled (manager/local_node.py says how).
RunNode = Callable[[NodeSeat], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Started:
    """What a caller learns once the manager serves: the bound port and its own node."""

    port: int
    node_id: str
    # Where the Docker API listens (its bound port), when it does.
    docker_api_port: int | None = None


async def serve(
    config: ManagerConfig,
    run_node: RunNode,
    stop: asyncio.Event,
    started: Callable[[Started], None] | None = None,
    distribution: Distribution | None = None,
) -> None:
    """Serve until stop is set, with run_node running this host's own node beside; the Docker
    API asks registries through distribution (the node's engine), if given.

    Two ports: PORT requires a client certificate of the cluster for every call; PORT+1 serves
    only the two calls a joining node makes before it has one.
    """
    config.state_dir.mkdir(parents=True, exist_ok=True)
    config.state_dir.chmod(0o700)
    key_files.install(config.state_dir, None)
    if key_files.sealed_on_disk(config.state_dir):
        # Locked: nothing below (store, ports, election, its node) until the unlock key comes.
        kek = await wait_for_unlock(config.state_dir, stop)
        if kek is None:
            return
        key_files.install(config.state_dir, kek)
    listen_host, port = split_host_port(config.listen, DEFAULT_PORT)
    advertise_host, _ = split_host_port(config.advertise, port)
    hostname = config.hostname or socket.gethostname()
    # Loaded (made on a first start) before the store opens: a state moving into etcd has its
    # join tokens' secrets sealed on the way.
    data_key = DataKey.load_or_create(config.state_dir)
    opened = await open_store(
        config.store_url,
        config.state_dir / STATE_FILE,
        config.etcd_tls,
        partial(join_secrets.sealed_object, data_key),
    )
    store = opened.store
    metrics = ManagerMetrics()
    store.on_commit = metrics.committed
    exporter: MetricsServer | None = None
    try:
        advertise_addr = join_host_port(advertise_host, port)
        boot = await bootstrap(
            store,
            config.state_dir,
            advertise_addr,
            hostname,
            config.availability,
            config.cert_lifetime,
            reset_nodes=not isinstance(store, EtcdStore),
        )
        structlog.contextvars.bind_contextvars(cluster_id=boot.cluster.id)
        unlock_key = await at_creation(config.autolock, boot.created, store, boot.data_key)
        autolock = AutolockSync(store, boot.data_key, config.state_dir)
        # Sealed (or cleared) before anything serves: the cluster may have changed its setting
        # while this manager was away.
        await autolock.apply()
        trust = boot.trust
        serving = ServingCertificate(
            trust,
            config.state_dir / TLS_DIR,
            boot.node_id,
            boot.cluster.id,
            server_names(advertise_host, listen_host, hostname),
            config.cert_lifetime,
        )
        # The dispatcher's address, once the port is bound (it may have been asked as 0).
        managers = (
            ManagerSet(boot.node_id, advertise_addr)
            if isinstance(store, EtcdStore)
            else ManagerSet.single(boot.node_id, advertise_addr)
        )
        metrics.leader.set_function(lambda: int(managers.leads()))
        interceptors: list[grpc.aio.ServerInterceptor] = [
            ControlMetrics(metrics),
            AdminOnly(Authenticator(store, boot.cluster.id)),
        ]
        forwarding: LeaderForwarding | None = None
        if isinstance(store, EtcdStore):
            forwarding = LeaderForwarding(managers, store, config.state_dir / NODE_DIR)
            interceptors.append(forwarding)
        server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=interceptors)
        host = listen_host or "0.0.0.0"
        bound = bind(server, join_host_port(host, port), serving.credentials())
        managers.self_addr = join_host_port(advertise_host, bound)
        dispatcher = Dispatcher(
            store,
            config.heartbeat_period,
            trust,
            boot.cluster.id,
            config.cert_lifetime,
            # Its own node's session comes over loopback: others reach it at the advertised host.
            MeshFeed(store, {boot.node_id: advertise_host}),
            LocalNode(boot.node_id, data_address(config.advertise)),
            metrics,
            data_key=boot.data_key,
            managers=managers,
        )
        dispatcher_pb2_grpc.add_DispatcherServicer_to_server(dispatcher, server)
        # The node's own ports, the manager's (configured and default, with the join port above
        # each), a metrics port and the Docker API's: no service may publish them.
        reserved = reserved_ports(
            port,
            config.metrics_addr.port if config.metrics_addr else None,
            split_host_port(config.docker_api_addr, DOCKER_API_PORT)[1]
            if config.docker_api_addr
            else None,
        )
        counts = ServiceCounts(store)
        control = Control(
            store,
            advertise_addr,
            boot.node_id,
            dispatcher.logs,
            reserved,
            boot.data_key,
            managers,
            counts,
            shared_store=isinstance(store, EtcdStore),
        )
        control_pb2_grpc.add_ControlServicer_to_server(control, server)
        admin_pb2_grpc.add_AdminCertificatesServicer_to_server(
            AdminCertificates(store, trust, boot.cluster.id, boot.data_key), server
        )
        facts = ManagerFacts(
            node_id=boot.node_id,
            addr=join_host_port(advertise_host, bound),
            store_backend=opened.backend,
            store_location=opened.location,
            heartbeat_period=timedelta(seconds=config.heartbeat_period),
            ca_expiry=boot.ca.cert.not_valid_after_utc,
            node_cert_lifetime=config.cert_lifetime,
            node_dir=config.state_dir / NODE_DIR,
        )
        system = System(store, facts, Authenticator(store, boot.cluster.id), managers)
        system_pb2_grpc.add_SystemServicer_to_server(system, server)
        docker_api = (
            None
            if config.docker_api_addr is None
            else DockerApiServer(
                config.docker_api_addr,
                Backend(
                    control,
                    store,
                    facts,
                    Authenticator(store, boot.cluster.id),
                    managers,
                    trust,
                    forwarding,
                    distribution,
                ),
                config.state_dir / TLS_DIR,
            )
        )
        if docker_api is not None:
            serving.on_renewal.append(docker_api.reload_certificate)
        trust.on_change += [
            serving.trust_changed,
            lambda: refresh_admin_bundle(config.state_dir, trust),
        ]
        membership_pb2_grpc.add_MembershipServicer_to_server(
            Membership(
                Authenticator(store, boot.cluster.id), trust, boot.data_key, config.store_url
            ),
            server,
        )
        join_service = JoinService(
            store, trust, boot.data_key, config.cert_lifetime, config.store_url, managers
        )
        joins = join_server(join_service)
        bind(joins, join_host_port(host, bound + 1), None)
        if config.metrics_addr is not None:
            exporter = MetricsServer.start(config.metrics_addr, metrics.registry)
        await server.start()
        await joins.start()
        try:
            advertise_addr = join_host_port(advertise_host, bound)
            announce(boot.created, boot.node_id, boot.cluster, boot.data_key, advertise_addr)
            if unlock_key is not None:
                print(unlock_message(unlock_key.unlock_key) + "\n", flush=True)
            log.info(
                "manager listening", port=bound, advertise=advertise_addr, node_id=boot.node_id
            )
            seat = NodeSeat(
                boot.node_id,
                local_target(listen_host, bound),
                hostname,
                boot.node_bundle,
                config.state_dir / NODE_DIR,
                metrics.registry,
            )

            async def lead() -> None:
                """The leader's work; new loops for each term, nothing carried over."""
                async with asyncio.TaskGroup() as term:
                    term.create_task(dispatcher.sweep_liveness())
                    term.create_task(Orchestrator(store).run())
                    term.create_task(PlacementLoop(store, metrics).run())
                    term.create_task(Allocator(store, reserved).run())
                    term.create_task(Updater(store, reserved).run())
                    term.create_task(VersionReaper(store).run())
                    term.create_task(end_rotations(store))

            async with asyncio.TaskGroup() as group:
                loops = [
                    group.create_task(dispatcher.run()),
                    group.create_task(ClusterGauges(store, metrics).run()),
                    group.create_task(counts.run()),
                    group.create_task(serving.run()),
                    group.create_task(autolock.run()),
                    group.create_task(trust.follow(store)),
                    group.create_task(run_node(seat)),
                ]
                if isinstance(store, EtcdStore):
                    loops += elect(store, managers, config.leader_lease, lead, dispatcher, group)
                else:
                    loops.append(group.create_task(lead()))
                docker_task = None
                if docker_api is not None:
                    docker_task = group.create_task(docker_api.serve())
                    log.info("docker api listening", port=docker_api.port)
                if started is not None:
                    started(
                        Started(
                            port=bound,
                            node_id=boot.node_id,
                            docker_api_port=docker_api.port if docker_api else None,
                        )
                    )
                await stop.wait()
                log.info("manager stopping")
                if docker_api is not None and docker_task is not None:
                    # Its open streams (events, logs) end within its graceful shutdown.
                    docker_api.stop()
                    await docker_task
                for task in loops:
                    task.cancel()
        finally:
            # Containers keep running: a stopped manager is not a reason to stop workloads.
            await joins.stop(grace=1)
            join_service.close()
            await server.stop(grace=1)
            if forwarding is not None:
                await forwarding.close()
    finally:
        key_files.install(config.state_dir, None)
        if exporter is not None:
            exporter.close()
        with contextlib.suppress(Exception):
            await store.close()
