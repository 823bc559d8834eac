"""The Docker Engine API's swarm subset as one ASGI app: versioned paths, the admin-only check
on the client certificate, the routes, and docker-shaped errors for everything else."""

from __future__ import annotations

import structlog
from cryptography import x509
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from common import pki
from common.errors import ShoalError, Unauthenticated
from manager.docker_api import (
    distribution,
    files,
    networks,
    nodes,
    services,
    streams,
    system,
    tasks,
)
from manager.docker_api.apiversion import VersionedPaths
from manager.docker_api.backend import Backend
from manager.docker_api.errors import docker_error, message_for, shoal_error, status_for

log = structlog.get_logger("docker_api")

# Where the server puts the DER client certificate the TLS layer verified (scope["state"]).
PEER_CERT = "peer_cert"


class AdminOnly:
    """Every request needs the admin bundle's (or a manager's) certificate, as the Control API
    does; the TLS layer has already checked it is the cluster CA's."""

    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self._app = app
        self._backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                der = scope.get("state", {}).get(PEER_CERT)
                if not der:
                    raise Unauthenticated("a client certificate of this cluster is required")
                cert = x509.load_der_x509_certificate(der)
                if not self._backend.trust.root_digest_of(cert):
                    raise Unauthenticated(
                        "the client certificate is of a CA this cluster no longer trusts"
                        " (`shoal ca --rotate`): use the newest admin bundle"
                    )
                self._backend.auth.admin_subject(pki.subject_of(cert))
            except ShoalError as exc:
                await docker_error(status_for(exc), message_for(exc))(scope, receive, send)
                return
        await self._app(scope, receive, send)


async def _not_here(request: Request) -> Response:
    """Anything else: engine endpoints (/containers, /images, /build ...), swarm calls Shoal has
    no counterpart for (/swarm/init, /swarm/join ...)."""
    return docker_error(
        501,
        f"{request.method} {request.url.path} is not served here: this is a Shoal manager, which"
        " answers the Docker API's swarm endpoints (/services, /tasks, /nodes, /networks,"
        " /secrets, /configs, /distribution, /swarm, /info, /version, /events); containers,"
        " images and volumes are each node's own engine's",
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return docker_error(exc.status_code, exc.detail)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("docker api request failed", method=request.method, path=request.url.path)
    return docker_error(500, "internal error in the Shoal manager; its log has the detail")


def build_app(backend: Backend) -> ASGIApp:
    routes = [
        *system.routes(backend),
        *services.routes(backend),
        *tasks.routes(backend),
        *nodes.routes(backend),
        *networks.routes(backend),
        *files.routes(backend),
        *distribution.routes(backend.distribution),
        *streams.routes(backend),
        Route(
            "/{path:path}",
            _not_here,
            methods=["GET", "HEAD", "POST", "PUT", "DELETE"],
        ),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            ShoalError: shoal_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    return VersionedPaths(AdminOnly(app, backend))
