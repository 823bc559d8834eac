"""Serving the Docker API: uvicorn over mutual TLS with the manager's serving certificate, each
connection's verified client certificate handed to the app (AdminOnly checks its role)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from common import key_files
from common.errors import Unavailable
from common.netaddr import split_host_port
from common.tls import CERT_FILE, KEY_FILE, Bundle
from manager.docker_api.app import PEER_CERT, build_app
from manager.docker_api.backend import Backend

# Docker's own port for its API over TLS.
DEFAULT_PORT = 2376


class _PeerCertProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with the client certificate of the connection in every
    request's scope["state"]: ASGI servers do not pass it on by themselves."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self.app_state = {**self.app_state, PEER_CERT: der}
        super().connection_made(transport)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The manager owns the process's signals, and stops this server itself.
        yield


def _tls_context(tls_dir: Path) -> ssl.SSLContext:
    """Client certificates of the cluster CA only; this server's own is the manager's."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=Bundle.load(tls_dir).ca_pem.decode())
    _load_pair(context, tls_dir)
    return context


def _load_pair(context: ssl.SSLContext, tls_dir: Path) -> None:
    # ssl loads a key pair from files only: the serving bundle's own, 0600 in the state dir.
    # Sealed under autolock: opened into memory only (common.key_files).
    with key_files.readable_path(tls_dir / KEY_FILE) as key_path:
        context.load_cert_chain(tls_dir / CERT_FILE, key_path)


def _listen(addr: str) -> socket.socket:
    host, port = split_host_port(addr, DEFAULT_PORT)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host or "0.0.0.0", port))
    except OSError as exc:
        sock.close()
        raise Unavailable(
            f"cannot serve the Docker API on {addr}: {exc.strerror or exc}"
            " (--docker-api-addr HOST:PORT, or empty for none)"
        ) from None
    return sock


class DockerApiServer:
    """The Docker API on addr (HOST:PORT), bound at construction; serve() until stop()."""

    def __init__(self, addr: str, backend: Backend, tls_dir: Path) -> None:
        context = _tls_context(tls_dir)
        self._context, self._tls_dir = context, tls_dir
        self._socket = _listen(addr)
        config = uvicorn.Config(
            build_app(backend),
            http=_PeerCertProtocol,
            ssl_context_factory=lambda _config, _default: context,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # A client following events or logs does not hold the manager's stop for long.
            timeout_graceful_shutdown=1,
        )
        self._server = _Server(config)

    @property
    def port(self) -> int:
        port: int = self._socket.getsockname()[1]
        return port

    def reload_certificate(self) -> None:
        """Take up the renewed serving pair (new connections present it) and the roots of a CA
        rotation. An SSL context only adds roots: a root rotated out is refused by the app
        instead (manager/docker_api/app.py)."""
        _load_pair(self._context, self._tls_dir)
        self._context.load_verify_locations(cadata=Bundle.load(self._tls_dir).ca_pem.decode())

    async def serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._socket])
        finally:
            self._socket.close()

    def stop(self) -> None:
        self._server.should_exit = True
