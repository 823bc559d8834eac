"""`manager serve`: the manager daemon's command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from datetime import timedelta
from pathlib import Path

from common import durations, log, mesh_flag, metrics_server
from common.cli_args import Parser, fail
from common.errors import ShoalError
from common.model import Availability
from common.netaddr import default_address
from common.ports import DEFAULT_PORT
from common.version import banner
from manager.leadership import DEFAULT_LEASE
from manager.local_node import serve_with_node
from manager.server import ManagerConfig
from manager.store import etcd_tls
from manager.store.etcd import parse_url
from manager.store.etcd_tls import EtcdTls

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
    serve_cmd.add_argument(
        "--store",
        type=_store_url,
        metavar="etcd://HOST:PORT[,HOST:PORT...][/PREFIX]",
        help="keep the cluster's state in etcd, under PREFIX (default /shoal); default: the"
        " SQLite file in --state-dir. An existing SQLite cluster is moved into etcd once",
    )
    _add_etcd_tls_flags(serve_cmd)
    serve_cmd.add_argument(
        "--leader-lease",
        type=_lease,
        metavar="DURATION",
        help=f"with --store: the etcd lease the leader holds (default {DEFAULT_LEASE}s, etcd's"
        " minimum); a leader that cannot renew it stops acting before it ends",
    )
    serve_cmd.add_argument("--log-level", choices=log.LEVELS, default="info")
    mesh_flag.add(serve_cmd)
    metrics_server.add_flag(serve_cmd)
    return parser


def _add_etcd_tls_flags(parser: Parser) -> None:
    # etcdctl's names; any of them (or etcds://) makes the connection to etcd TLS.
    parser.add_argument("--etcd-cacert", type=Path, help="CA that signed etcd's certificate")
    parser.add_argument("--etcd-cert", type=Path, help="client certificate shown to etcd")
    parser.add_argument("--etcd-key", type=Path, help="key of --etcd-cert")


def _etcd_tls(args: argparse.Namespace) -> EtcdTls | None:
    if args.etcd_cacert is None and args.etcd_cert is None and args.etcd_key is None:
        return None
    if args.store is None:
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


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.leader_lease is not None and args.store is None:
        parser.error("--leader-lease applies only with --store etcd://...")
    log.setup(args.log_level)
    tls = _etcd_tls(args)
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
        store_url=args.store,
        etcd_tls=tls,
        leader_lease=args.leader_lease or DEFAULT_LEASE,
    )
    try:
        asyncio.run(_run(config))
    except* ShoalError as group:
        fail("; ".join(str(e) for e in group.exceptions))
