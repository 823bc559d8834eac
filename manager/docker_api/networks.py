"""/networks: the cluster's overlay networks, listed, made, inspected and removed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common import convert
from common.api import control_pb2 as pb
from common.model import Network
from manager.control import Control
from manager.docker_api import filters as docker_filters
from manager.docker_api.backend import Backend
from manager.docker_api.requests import json_body
from manager.docker_api.shapes.networks import (
    OVERLAY,
    SWARM,
    network_request_from_json,
    network_to_json,
)

LIST_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")


def _matches(network: Network, wanted: docker_filters.Filters) -> bool:
    return (
        ("id" not in wanted or docker_filters.any_prefix(wanted["id"], network.id))
        # docker matches names by substring.
        and ("name" not in wanted or any(v in network.name for v in wanted["name"]))
        and docker_filters.labels_match(wanted.get("label", ()), network.labels)
        and all(v == OVERLAY for v in wanted.get("driver", ()))
        and all(v == SWARM for v in wanted.get("scope", ()))
        and all(v == "custom" for v in wanted.get("type", ()))
        # A network's users are services and their tasks, which docker does not count here.
        and all(v in ("false", "0") for v in wanted.get("dangling", ()))
    )


def routes(backend: Backend) -> list[Route]:
    async def list_networks(request: Request) -> Response:
        wanted = docker_filters.parse(request.query_params.get("filters"), LIST_FILTERS)
        answer = await backend.call(Control.ListNetworks, pb.ListNetworksRequest())
        networks = [convert.network_from_pb(n) for n in answer.networks]
        return JSONResponse([network_to_json(n) for n in networks if _matches(n, wanted)])

    async def create(request: Request) -> Response:
        asked = network_request_from_json(await json_body(request))
        answer = await backend.call(
            Control.CreateNetwork,
            pb.CreateNetworkRequest(name=asked.name, subnet=asked.subnet, labels=asked.labels),
        )
        return JSONResponse({"Id": answer.network.id, "Warning": ""}, status_code=201)

    async def inspect(request: Request) -> Response:
        answer = await backend.call(
            Control.GetNetwork, pb.GetNetworkRequest(ref=request.path_params["id"])
        )
        return JSONResponse(network_to_json(convert.network_from_pb(answer.network)))

    async def remove(request: Request) -> Response:
        await backend.call(
            Control.RemoveNetwork, pb.RemoveNetworkRequest(ref=request.path_params["id"])
        )
        return Response(status_code=204)

    return [
        Route("/networks", list_networks, methods=["GET"]),
        Route("/networks/create", create, methods=["POST"]),
        Route("/networks/{id}", inspect, methods=["GET"]),
        Route("/networks/{id}", remove, methods=["DELETE"]),
    ]
