"""`--metrics-addr HOST:PORT`, shared by `manager serve` and `agent`: /metrics from one process's
registry, served by prometheus_client's own HTTP server on a thread of its own."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from common.errors import InvalidArgument, ShoalError, Unavailable
from common.netaddr import join_host_port, split_host_port


@dataclass(frozen=True)
class MetricsAddr:
    host: str
    port: int

    def __str__(self) -> str:
        return join_host_port(self.host, self.port)


def parse(text: str) -> MetricsAddr:
    """HOST:PORT with both parts given (port 0: any free one)."""
    host, port = split_host_port(text, -1)
    if not host or not 0 <= port <= 65535:
        raise InvalidArgument(f"invalid metrics address {text!r}: expected HOST:PORT")
    return MetricsAddr(host, port)


def _arg(text: str) -> MetricsAddr:
    try:
        return parse(text)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-addr",
        type=_arg,
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (default: off)",
    )


class MetricsServer:
    def __init__(self, server: WSGIServer) -> None:
        self._server = server

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @classmethod
    def start(cls, addr: MetricsAddr, registry: CollectorRegistry) -> MetricsServer:
        try:
            server, _thread = start_http_server(addr.port, addr.host, registry)
        except OSError as exc:
            raise Unavailable(f"cannot serve metrics on {addr}: {exc.strerror or exc}") from None
        return cls(server)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
