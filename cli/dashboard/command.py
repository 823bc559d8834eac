"""`shoal dashboard [--listen HOST:PORT] [--open]`: serve the web view until Ctrl-C."""

from __future__ import annotations

import argparse
import ipaddress
import sys
import webbrowser

import uvicorn

from cli.client import Client
from cli.dashboard.app import build_app
from common.errors import ShoalError, Unavailable
from common.netaddr import join_host_port, split_host_port

DEFAULT_LISTEN = "127.0.0.1:8462"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        type=_listen,
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"where the web view answers (default {DEFAULT_LISTEN}; loopback only)",
    )
    parser.add_argument("--open", action="store_true", help="open it in a web browser")
    parser.set_defaults(run=run)


def _listen(text: str) -> tuple[str, int]:
    try:
        host, port = split_host_port(text, -1)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not host or not 0 < port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid address {text!r}: expected HOST:PORT")
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace, client: Client) -> int:
    host, port = args.listen
    # Any call the page makes is made with this client's admin certificate: whoever reaches the
    # page can read the cluster and scale its services.
    if not is_loopback(host):
        print(
            f"warning: the dashboard listens on {host}, beyond this host: whoever reaches it acts"
            " with this client's credentials",
            file=sys.stderr,
        )
    client.version()  # fails here, in one line, when the manager does not answer
    url = f"http://{join_host_port(host, port)}/"
    print(f"Dashboard at {url} (Ctrl-C to stop)", flush=True)
    if args.open:
        webbrowser.open(url)
    config = uvicorn.Config(build_app(client), host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit as exc:
        # uvicorn exits this way when it cannot bind.
        raise Unavailable(f"cannot listen on {join_host_port(host, port)}") from exc
    return 0
