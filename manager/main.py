"""`manager serve`: the manager daemon's command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

from common import collector, durations, identity, log, mesh_flag, metrics_server, open_files
from common.cli_args import Parser, fail
from common.errors import ShoalError
from common.model import Availability
from common.netaddr import default_address, split_host_port
from common.ports import DEFAULT_PORT
from common.version import banner
from manager.bootstrap import NODE_DIR
from manager.docker_api import DEFAULT_PORT as DOCKER_API_PORT
from manager.joining import join_manager, take_over
from manager.leadership import DEFAULT_LEASE
from manager.local_node import serve_with_node
from manager.server import ManagerConfig
from manager.store import etcd_tls, saved_url
from manager.store.etcd_tls import EtcdTls
from manager.store.etcd_url import parse_url

DEFAULT_STATE_DIR = "/var/lib/shoal/manager"
# etcd's shortest lease with its default election settings.
MIN_LEASE = 2


def _duration(text: str) -> timedelta:
    try:
        return durations.parse(text)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _store_url(text: str) -> str:
    try:
        parse_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _lease(text: str) -> int:
    seconds = _duration(text).total_seconds()
    if seconds != int(seconds) or seconds < MIN_LEASE:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a leader lease is whole seconds, {MIN_LEASE}s at least (etcd's minimum)"
        )
    return int(seconds)


def build_parser() -> Parser:
    parser = Parser(prog="manager", description="The Shoal manager daemon.")
    parser.add_argument("-v", "--version", action="version", version=banner("manager"))
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    serve_cmd = commands.add_parser("serve", help="create or resume the cluster and serve it")
    join_cmd = commands.add_parser(
        "join",
        help="join a cluster on etcd as a manager (or resume the manager in --state-dir)",
    )
    join_cmd.add_argument("token", help="the manager join token from `shoal join-token manager`")
    join_cmd.add_argument(
        "addr", help="a manager's ADDR:PORT (joining uses the port above it, PORT+1)"
    )
    take_over_cmd = commands.add_parser(
        "take-over",
        help="go on as the manager of a promoted node (what its agent execs into)",
    )
    take_over_cmd.add_argument(
        "--agent-state-dir", type=Path, required=True, help="the promoted node's agent state dir"
    )
    for cmd in (serve_cmd, join_cmd, take_over_cmd):
        _serve_flags(cmd)
    serve_cmd.add_argument(
        "--store",
        type=_store_url,
        metavar="etcd://HOST:PORT[,HOST:PORT...][/PREFIX]",
        help="keep the cluster's state in etcd, under PREFIX (default /shoal); default: the"
        " store a joined manager was given, else the SQLite file in --state-dir",
    )
    serve_cmd.add_argument(
        "--autolock",
        action="store_true",
        help="create the cluster with autolock on: the managers' keys are sealed at rest and a"
        " restarted manager waits for `shoal cluster unlock` (the unlock key is printed once)",
    )
    return parser


def _serve_flags(serve_cmd: argparse.ArgumentParser) -> None:
    serve_cmd.add_argument(
        "--listen", default=f"0.0.0.0:{DEFAULT_PORT}", help="ADDR:PORT to listen on"
    )
    serve_cmd.add_argument(
        "--advertise", help="address agents and clients reach (default: the default-route address)"
    )
    serve_cmd.add_argument("--state-dir", type=Path, default=Path(DEFAULT_STATE_DIR))
    serve_cmd.add_argument(
        "--docker-host", default=os.environ.get("DOCKER_HOST"), help="engine for this node's tasks"
    )
    serve_cmd.add_argument(
        "--availability",
        choices=[a.name.lower() for a in Availability],
        help="this node's availability (drain keeps tasks off the manager's host)",
    )
    serve_cmd.add_argument("--hostname", default="", help="this node's name (default: the host's)")
    serve_cmd.add_argument(
        "--heartbeat-period",
        type=_duration,
        default=timedelta(seconds=1),
        help="time between agent heartbeats (default 1s); a node is down after 3 missed",
    )
    serve_cmd.add_argument(
        "--cert-expiry",
        type=_duration,
        default=timedelta(days=90),
        help="lifetime of node certificates (default 90d); they renew at 50-80 %% of it",
    )
    # A joined manager reaches etcd as the first one does, so the TLS files and the lease are
    # flags of join and take-over too.
    _add_etcd_tls_flags(serve_cmd)
    serve_cmd.add_argument(
        "--leader-lease",
        type=_lease,
        metavar="DURATION",
        help=f"with a store on etcd: the etcd lease the leader holds (default {DEFAULT_LEASE}s,"
        " etcd's minimum); a leader that cannot renew it stops acting before it ends",
    )
    serve_cmd.add_argument(
        "--docker-api-addr",
        metavar="HOST:PORT",
        help="serve the Docker Engine API's swarm endpoints here, over mutual TLS with the admin"
        f" bundle (default 0.0.0.0:{DOCKER_API_PORT}, or the --listen port + 2 when that is not"
        f" {DEFAULT_PORT}); empty: not at all",
    )
    serve_cmd.add_argument("--log-level", choices=log.LEVELS, default="info")
    mesh_flag.add(serve_cmd)
    metrics_server.add_flag(serve_cmd)


def _add_etcd_tls_flags(parser: argparse.ArgumentParser) -> None:
    # etcdctl's names; any of them (or etcds://) makes the connection to etcd TLS.
    parser.add_argument("--etcd-cacert", type=Path, help="CA that signed etcd's certificate")
    parser.add_argument("--etcd-cert", type=Path, help="client certificate shown to etcd")
    parser.add_argument("--etcd-key", type=Path, help="key of --etcd-cert")


def _etcd_tls(args: argparse.Namespace, store_url: str | None) -> EtcdTls | None:
    if args.etcd_cacert is None and args.etcd_cert is None and args.etcd_key is None:
        return None
    if store_url is None:
        fail("--etcd-cacert, --etcd-cert and --etcd-key need --store etcd://...")
    try:
        return etcd_tls.load(args.etcd_cacert, args.etcd_cert, args.etcd_key)
    except ShoalError as exc:
        fail(str(exc))


async def _run(config: ManagerConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve_with_node(config, stop)


def _millis(duration: timedelta) -> str:
    return f"{duration // timedelta(milliseconds=1)}ms"


def serve_argv(args: argparse.Namespace) -> list[str]:
    """`manager serve` with every flag `manager join` was given but the token and the address:
    the store and the keys are in the state dir now, and the token must not stay in the
    command line."""
    argv = ["serve", "--listen", args.listen, "--state-dir", str(args.state_dir)]
    argv += ["--log-level", args.log_level]
    argv += ["--heartbeat-period", _millis(args.heartbeat_period)]
    argv += ["--cert-expiry", _millis(args.cert_expiry)]
    for flag, value in (
        ("--advertise", args.advertise),
        ("--docker-host", args.docker_host),
        ("--availability", args.availability),
        ("--hostname", args.hostname),
        ("--metrics-addr", args.metrics_addr),
        ("--etcd-cacert", args.etcd_cacert),
        ("--etcd-cert", args.etcd_cert),
        ("--etcd-key", args.etcd_key),
    ):
        if value:
            argv += [flag, str(value)]
    if args.leader_lease is not None:
        argv += ["--leader-lease", f"{args.leader_lease}s"]
    if args.docker_api_addr is not None:
        # Passed even when empty: empty serves no Docker API, where the default would.
        argv += ["--docker-api-addr", args.docker_api_addr]
    if args.no_routing_mesh:
        argv.append("--no-routing-mesh")
    return argv


def _join(args: argparse.Namespace) -> NoReturn:
    """Join (or take a promoted node over from its agent) unless the state dir already holds
    this manager's node, then go on as `manager serve` in this process (same PID, so a
    supervisor keeps following it)."""
    try:
        kept = identity.load(args.state_dir / NODE_DIR)
        if kept is None:
            if args.command == "take-over":
                joined = asyncio.run(take_over(args.agent_state_dir))
            else:
                hostname = args.hostname or socket.gethostname()
                joined = asyncio.run(join_manager(hostname, args.token, args.addr))
            joined.keep(args.state_dir)
            kept = joined.node
            print(f"This node joined a cluster as a manager ({kept.node_id}).", flush=True)
        if args.command == "take-over":
            agent = identity.load(args.agent_state_dir)
            if agent is not None and agent.node_id == kept.node_id:
                # The node is this manager's now (also after a take-over cut short before
                # this): no `agent run` may resume it beside it.
                identity.forget(args.agent_state_dir)
    except ShoalError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, "-m", "manager", *serve_argv(args)]
    try:
        os.execv(sys.executable, argv)
    except OSError as exc:
        fail(f"cannot continue as `manager serve`: {exc.strerror}")


def docker_api_addr_of(args: argparse.Namespace) -> str | None:
    """The flag's value (empty: none), else docker's TLS port for a manager on the default
    port, else the port two above --listen's (the one above is the join port): a second
    manager in one network namespace, on a port of its own, then collides on nothing."""
    if args.docker_api_addr is not None:
        return str(args.docker_api_addr) or None
    port = split_host_port(args.listen, DEFAULT_PORT)[1]
    return f"0.0.0.0:{DOCKER_API_PORT if port == DEFAULT_PORT else port + 2}"


def main(argv: list[str] | None = None) -> None:
    collector.pace_for_daemons()
    parser = build_parser()
    args = parser.parse_args(argv)
    open_files.raise_to_hard_limit()
    if args.command in ("join", "take-over"):
        log.setup(args.log_level)
        _join(args)
    try:
        store_url = args.store or saved_url.load(args.state_dir)
    except ShoalError as exc:
        fail(str(exc))
    if args.leader_lease is not None and store_url is None:
        parser.error("--leader-lease applies only with --store etcd://...")
    log.setup(args.log_level)
    tls = _etcd_tls(args, store_url)
    config = ManagerConfig(
        listen=args.listen,
        advertise=args.advertise or default_address(),
        state_dir=args.state_dir,
        docker_host=args.docker_host,
        heartbeat_period=args.heartbeat_period.total_seconds(),
        cert_lifetime=args.cert_expiry,
        availability=Availability[args.availability.upper()] if args.availability else None,
        hostname=args.hostname,
        routing_mesh=not args.no_routing_mesh,
        metrics_addr=args.metrics_addr,
        store_url=store_url,
        etcd_tls=tls,
        docker_api_addr=docker_api_addr_of(args),
        leader_lease=args.leader_lease or DEFAULT_LEASE,
        autolock=args.autolock,
    )
    try:
        asyncio.run(_run(config))
    except* ShoalError as group:
        fail("; ".join(str(e) for e in group.exceptions))
