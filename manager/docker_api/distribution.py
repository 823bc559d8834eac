"""/distribution/{name}/json: the digest an image's tag names in its registry now, which docker's
CLI asks before `service create` and `update --image` to pin the image. The manager's own node's
engine asks the registry, with the caller's X-Registry-Auth and never the manager's own
credentials; its refusal comes back in docker's error shape."""

from __future__ import annotations

from typing import Any

import docker
import docker.errors
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.errors import NotFound, Unavailable
from common.model import RegistryAuth
from manager.docker_api.backend import Backend
from manager.docker_api.shapes.registry_auth import HEADER, registry_auth_from_header


def _auth_config(auth: RegistryAuth | None) -> dict[str, str]:
    """docker-py's auth_config; empty (though given) sends an empty header, where None would
    have it read the manager's own docker configuration."""
    if auth is None:
        return {}
    return {
        "username": auth.username,
        "password": auth.password,
        "serveraddress": auth.server_address,
        "identitytoken": auth.identity_token,
    }


def routes(backend: Backend) -> list[Route]:
    async def inspect(request: Request) -> Response:
        name = request.path_params["name"]
        auth = _auth_config(registry_auth_from_header(request.headers.get(HEADER)))
        if backend.engine is None:
            raise Unavailable("this manager has no engine to ask the registry with")

        def ask(api: docker.APIClient) -> Any:
            # An image only built on this engine, never pushed or pulled, is in no registry:
            # asking one would only wait for a refusal (as `shoal service create` skips it).
            try:
                local = api.inspect_image(name)  # type: ignore[no-untyped-call]
            except docker.errors.NotFound:
                local = None
            if local is not None and not local.get("RepoDigests"):
                raise NotFound(f"image {name} is in no registry: it was built on this engine")
            return api.inspect_distribution(name, auth_config=auth)  # type: ignore[no-untyped-call]

        return JSONResponse(await backend.engine.call(ask))

    return [Route("/distribution/{name:path}/json", inspect, methods=["GET"])]
