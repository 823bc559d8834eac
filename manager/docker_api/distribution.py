"""/distribution/{name}/json: the digest an image's tag names in its registry now, which docker's
CLI asks before `service create` and `update --image` to pin the image. The manager's own node's
engine asks the registry, with the caller's X-Registry-Auth and never the manager's own
credentials; its refusal comes back in docker's error shape."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.errors import Unavailable
from common.model import RegistryAuth
from manager.docker_api.shapes.registry_auth import HEADER, registry_auth_from_header


class Distribution(Protocol):
    """The node's engine, asking registries (the composition gives it: manager/local_node)."""

    async def inspect(self, name: str, auth: RegistryAuth | None) -> dict[str, Any]: ...


def routes(distribution: Distribution | None) -> list[Route]:
    async def inspect(request: Request) -> Response:
        auth = registry_auth_from_header(request.headers.get(HEADER))
        if distribution is None:
            raise Unavailable("this manager has no engine to ask the registry with")
        return JSONResponse(await distribution.inspect(request.path_params["name"], auth))

    return [Route("/distribution/{name:path}/json", inspect, methods=["GET"])]
