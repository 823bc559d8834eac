"""`agent join` and `agent run`: the worker daemon's command line."""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import socket
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import grpc
import structlog

from agent import hollow
from agent.engine_client import EngineClient
from agent.mesh.netfilter import Netfilter
from agent.mesh.sync import MeshSync
from agent.metrics import AgentMetrics
from agent.node import NodeAgent
from agent.overlay.node_networks import node_networks
from agent.runtime.docker import DockerRuntime
from agent.teardown import Teardown, remove_host_networking
from common import collector, identity, log, mesh_flag, metrics_server, open_files, tokens
from common.api import dispatcher_pb2 as dpb
from common.api import dispatcher_pb2_grpc
from common.cli_args import Parser, fail
from common.errors import NodePromoted, ShoalError
from common.metrics_server import MetricsAddr, MetricsServer
from common.model import NodeDescription
from common.netaddr import default_address, join_host_port, split_host_port
from common.ports import DEFAULT_PORT, join_addr
from common.tls import Bundle
from common.version import banner

DEFAULT_STATE_DIR = "/var/lib/shoal/agent"
MANAGER_STATE_DIR = "/var/lib/shoal/manager"
LEAVE_DEADLINE = 10.0

logger = structlog.get_logger("agent")

T = TypeVar("T")


def build_parser() -> Parser:
    parser = Parser(prog="agent", description="The Shoal worker agent.")
    parser.add_argument("-v", "--version", action="version", version=banner("agent"))
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    join_cmd = commands.add_parser(
        "join", help="join a cluster (or resume the node in --state-dir)"
    )
    join_cmd.add_argument("token", help="the worker join token from `shoal join-token worker`")
    join_cmd.add_argument(
        "addr", help="the manager's ADDR:PORT (joining uses the port above it, PORT+1)"
    )
    run = commands.add_parser("run", help="resume the node kept in --state-dir, without a token")
    leave = commands.add_parser(
        "leave", help="leave the cluster: the node is removed, its containers too"
    )
    leave.add_argument(
        "--force", action="store_true", help="leave even if the manager cannot be told"
    )
    for sub in (join_cmd, run, leave):
        sub.add_argument("--state-dir", type=Path, default=Path(DEFAULT_STATE_DIR))
        sub.add_argument("--docker-host", default=os.environ.get("DOCKER_HOST"))
        sub.add_argument(
            "--hostname",
            default="",
            help="this node's name, kept for later starts"
            " (default: the name given at join, else the host's)",
        )
        sub.add_argument("--log-level", choices=log.LEVELS, default="info")
        mesh_flag.add(sub)
    for sub in (join_cmd, run):
        metrics_server.add_flag(sub)
        # Docker's swarm join takes the manager's addresses up front too, for a promotion.
        sub.add_argument(
            "--manager-listen",
            default=f"0.0.0.0:{DEFAULT_PORT}",
            help="where this host's manager listens once the node is promoted",
        )
        sub.add_argument(
            "--manager-advertise",
            help="the address of this host's manager once promoted (default: the default route's)",
        )
        sub.add_argument(
            "--manager-state-dir",
            type=Path,
            default=Path(MANAGER_STATE_DIR),
            help="the state dir of this host's manager once promoted",
        )
    hollow.add_parser(commands)
    return parser


async def join_node(state_dir: Path, hostname: str, token: str, addr: str) -> None:
    """Join once: the node's identity (read from its verified certificate, with the manager's
    address and the hostname given, if any) and its credentials go to state_dir, from where
    `agent run` resumes it."""
    # Imported here: `agent run` never joins, and need not carry the cryptography package.
    from common.join_client import join

    tokens.parse(token)
    manager = join_host_port(*split_host_port(addr, DEFAULT_PORT))
    description = NodeDescription(hostname=hostname or socket.gethostname())
    subject, bundle = await join(token, join_addr(manager), description)
    known = identity.Identity(subject.node_id, subject.cluster_id, manager, hostname)
    identity.save(state_dir, known, bundle)
    print(f"This node joined a cluster as a worker ({known.node_id}).", flush=True)


async def run_agent(
    state_dir: Path,
    docker_host: str | None,
    hostname: str,
    mesh: bool = True,
    metrics_addr: MetricsAddr | None = None,
) -> bool:
    """Serve the node until the manager refuses it for good (ShoalError), or until it is
    promoted: then True, and the host is to go on as a manager."""
    known = identity.load(state_dir)
    if known is None:
        raise ShoalError(f"no node identity in {state_dir}: run `agent join TOKEN ADDR` first")
    if hostname and hostname != known.hostname:
        known = identity.rename(state_dir, known, hostname)
    hostname = known.hostname or socket.gethostname()
    logger.info("resuming node", node_id=known.node_id, manager=known.manager, hostname=hostname)
    bundle = Bundle.load(state_dir)
    structlog.contextvars.bind_contextvars(node_id=known.node_id)
    metrics = AgentMetrics()
    exporter = MetricsServer.start(metrics_addr, metrics.registry) if metrics_addr else None
    engine = EngineClient(docker_host)
    runtime = DockerRuntime(engine)
    networks = node_networks(engine, known.cluster_id, default_address())
    try:
        ingress = MeshSync(known.node_id, Netfilter()) if mesh else None
        await NodeAgent(
            known.node_id,
            known.manager,
            runtime,
            hostname,
            bundle,
            state_dir,
            ingress,
            networks=networks,
            data_addr=default_address(),
            metrics=metrics,
            host_networking=functools.partial(remove_host_networking, engine, known.cluster_id)
            if mesh
            else None,
        ).run()
    except NodePromoted:
        logger.info("node promoted to a manager: handing the host over to a manager process")
        return True
    finally:
        await networks.close()
        await engine.close()
        if exporter is not None:
            exporter.close()
    return False


async def leave_cluster(
    state_dir: Path, docker_host: str | None, force: bool, mesh: bool = True
) -> None:
    """Tell the manager, then remove this node's containers, its netfilter rules, VXLAN devices
    and engine networks, and its identity."""
    known = identity.load(state_dir)
    if known is None:
        raise ShoalError(f"no node identity in {state_dir}: this host is not in a cluster")
    bundle = Bundle.load(state_dir)
    try:
        async with grpc.aio.secure_channel(known.manager, bundle.channel_credentials()) as channel:
            await dispatcher_pb2_grpc.DispatcherStub(channel).Leave(
                dpb.LeaveRequest(), timeout=LEAVE_DEADLINE
            )
    except grpc.aio.AioRpcError as exc:
        if not force:
            raise ShoalError(
                f"could not tell the manager at {known.manager} ({exc.details()}):"
                " use --force to leave anyway"
            ) from None
    engine = EngineClient(docker_host)
    teardown = Teardown(
        known.node_id,
        DockerRuntime(engine),
        state_dir,
        MeshSync(known.node_id, Netfilter()) if mesh else None,
        functools.partial(remove_host_networking, engine, known.cluster_id) if mesh else None,
    )
    try:
        failed = await teardown.run()
    finally:
        await engine.close()
    if failed:
        raise ShoalError(
            f"left the cluster, but removing {'; '.join(failed)} failed:"
            " `agent leave --force` finishes it"
        )
    print("Node left the cluster.", flush=True)


def run_argv(args: argparse.Namespace) -> list[str]:
    """`agent run` with every flag `agent join` was given but the token and the address: the
    address is in the node's identity, and the token must not stay in the command line."""
    argv = ["run", "--state-dir", str(args.state_dir), "--log-level", args.log_level]
    if args.docker_host:
        argv += ["--docker-host", args.docker_host]
    if args.hostname:
        argv += ["--hostname", args.hostname]
    if args.no_routing_mesh:
        argv.append("--no-routing-mesh")
    if args.metrics_addr:
        argv += ["--metrics-addr", str(args.metrics_addr)]
    argv += ["--manager-listen", args.manager_listen]
    argv += ["--manager-state-dir", str(args.manager_state_dir)]
    if args.manager_advertise:
        argv += ["--manager-advertise", args.manager_advertise]
    return argv


def take_over_argv(args: argparse.Namespace) -> list[str]:
    """`manager take-over`: the manager, on this host, takes the promoted node over from the
    agent (its identity, its containers), with the flags the agent was given."""
    argv = ["take-over", "--agent-state-dir", str(args.state_dir)]
    argv += ["--state-dir", str(args.manager_state_dir), "--listen", args.manager_listen]
    argv += ["--log-level", args.log_level]
    if args.manager_advertise:
        argv += ["--advertise", args.manager_advertise]
    if args.docker_host:
        argv += ["--docker-host", args.docker_host]
    if args.hostname:
        argv += ["--hostname", args.hostname]
    if args.no_routing_mesh:
        argv.append("--no-routing-mesh")
    if args.metrics_addr:
        argv += ["--metrics-addr", str(args.metrics_addr)]
    return argv


def _continue_as(module: str, argv: list[str]) -> NoReturn:
    """Replace this process (same PID, so a supervisor keeps following it) with `python -m
    module argv...`: `agent run`, `agent hollow` without its token, or `manager take-over`."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(sys.executable, [sys.executable, "-m", module, *argv])
    except OSError as exc:
        fail(f"cannot continue as `{module} {argv[0]}`: {exc.strerror}")


def _run(work: Coroutine[Any, Any, T]) -> T | None:
    try:
        return asyncio.run(work)
    except* ShoalError as group:
        fail("; ".join(str(e) for e in group.exceptions))
    except* KeyboardInterrupt:
        pass
    return None


def _hollow(args: argparse.Namespace) -> None:
    """As join then run: the nodes without an identity join, then the process goes on without
    the token in its command line."""
    try:
        prefix = hollow.check_args(args)
        absent = hollow.missing(args.state_dir, args.count)
    except ShoalError as exc:
        fail(str(exc))
    if args.token is None:
        _run(hollow.run_nodes(args.state_dir, args.count, prefix))
        return
    if absent:
        _run(hollow.join_nodes(args.state_dir, prefix, absent, args.token, args.addr))
        if hollow.missing(args.state_dir, args.count):  # interrupted while joining
            sys.exit(130)
    _continue_as("agent", hollow.run_argv(args, prefix))


def main(argv: list[str] | None = None) -> None:
    collector.pace_for_daemons()
    args = build_parser().parse_args(argv)
    log.setup(args.log_level)
    open_files.raise_to_hard_limit()
    if args.command == "hollow":
        _hollow(args)
        return
    # Empty unless given: the name kept with the node's identity, else the host's, is used then.
    hostname = args.hostname
    mesh = not args.no_routing_mesh
    if args.command == "leave":
        _run(leave_cluster(args.state_dir, args.docker_host, args.force, mesh))
        return
    if args.command == "join":
        try:
            joined = identity.load(args.state_dir) is not None
        except ShoalError as exc:
            fail(str(exc))
        if not joined:
            _run(join_node(args.state_dir, hostname, args.token, args.addr))
            if identity.load(args.state_dir) is None:  # interrupted while joining
                sys.exit(130)
        # A state dir that already holds an identity resumes it; either way the daemon goes
        # on as `agent run`, so the token is in no process's command line from here on.
        _continue_as("agent", run_argv(args))
    if _run(run_agent(args.state_dir, args.docker_host, hostname, mesh, args.metrics_addr)):
        _continue_as("manager", take_over_argv(args))
