"""`shoal`: parse the command line, run one command against the manager, map failures to exit codes.

Exit codes follow docker's: 0 when the command did what was asked, 1 otherwise, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cli import (
    admin_cert,
    ca,
    cluster,
    events,
    files,
    join_token,
    network,
    node,
    output,
    service,
    system,
)
from cli.client import DEADLINE, Client
from cli.connection import (
    CONFIG_ENV,
    DEFAULT_HOST,
    HOST_ENV,
    LOCAL_MANAGER,
    MANAGER_ADMIN_DIR,
    USER_CONFIG,
    find_config,
    is_local,
)
from cli.dashboard import command as dashboard
from cli.failover import Managers, parse_hosts
from cli.stack import command as stack
from common.cli_args import Parser
from common.errors import ShoalError
from common.version import banner

Command = Callable[[argparse.Namespace, Client], int]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="shoal", description="Manage a Shoal cluster.")
    parser.add_argument(
        "-H",
        "--host",
        default=os.environ.get(HOST_ENV, DEFAULT_HOST),
        help=(
            "Manager addresses as HOST:PORT[,HOST:PORT...], tried in turn"
            f" (default: ${HOST_ENV} or {DEFAULT_HOST})"
        ),
    )
    parser.add_argument(
        "--config",
        metavar="DIR",
        help=(
            f"Directory holding the client certificate bundle (default: ${CONFIG_ENV},"
            f" else {USER_CONFIG}, else {MANAGER_ADMIN_DIR})"
        ),
    )
    parser.add_argument("-v", "--version", action="version", version=banner("shoal"))
    groups = parser.add_subparsers(metavar="COMMAND", required=True)
    service.register(groups.add_parser("service", help="Manage services"))
    node.register(groups.add_parser("node", help="Manage nodes"))
    network.register(groups.add_parser("network", help="Manage networks"))
    files.register(groups.add_parser("secret", help="Manage secrets"), config=False)
    files.register(groups.add_parser("config", help="Manage configs"), config=True)
    stack.register(groups.add_parser("stack", help="Manage stacks"))
    join_token.register(groups.add_parser("join-token", help="Show how to join a node"))
    events.register(groups.add_parser("events", help="Get real time events from the cluster"))
    dashboard.register(groups.add_parser("dashboard", help="Serve a live web view of the cluster"))
    system.register_info(groups.add_parser("info", help="Display cluster-wide information"))
    system.register_version(
        groups.add_parser("version", help="Show the client and manager version information")
    )
    admin_cert.register(groups.add_parser("admin-cert", help="Rotate the admin certificate"))
    cluster.register(groups.add_parser("cluster", help="Manage the cluster (autolock)"))
    ca.register(groups.add_parser("ca", help="Display and rotate the root CA"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code. Usage errors and --help exit through SystemExit."""
    args = build_parser().parse_args(argv)
    # A usage rule the flags alone cannot state ("at least one of ...") fails here, before a
    # bundle is looked for or a call made.
    check: Callable[[argparse.Namespace], None] | None = getattr(args, "check", None)
    if check is not None:
        check(args)
    run: Command = args.run
    # What a command shows before it connects (`version`: the client's own part).
    prelude: Callable[[argparse.Namespace], None] | None = getattr(args, "prelude", None)
    if prelude is not None:
        prelude(args)
    if getattr(args, "local", False) and args.host == DEFAULT_HOST:
        # As `docker swarm unlock` asks the local engine: the locked manager's socket.
        args.host = LOCAL_MANAGER
    try:
        hosts = parse_hosts(args.host)
        # A local socket needs no bundle: its directory's permissions guard it.
        config = Path() if all(map(is_local, hosts)) else find_config(args.config)
        with Managers(hosts, config, DEADLINE) as managers:
            return run(args, Client(managers))
    except ShoalError as exc:
        output.error(exc)
        return 1
    except KeyboardInterrupt:
        # The user stopped waiting; a traceback would only bury the prompt.
        return 130
    except BrokenPipeError:
        # The reader went away (`shoal node ls | head`): end quietly with SIGPIPE's status, and
        # point stdout at /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
