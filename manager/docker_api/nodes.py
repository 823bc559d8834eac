"""/nodes: list, inspect, update (availability and labels), remove."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common import convert
from common.api import control_pb2 as pb
from common.api import types_pb2 as types_pb
from common.model import Node
from manager.control import Control
from manager.docker_api import filters as docker_filters
from manager.docker_api.backend import Backend
from manager.docker_api.requests import flag, json_body, version
from manager.docker_api.shapes.objects import ROLE, node_spec_from_json, node_to_json

LIST_FILTERS = ("id", "label", "membership", "name", "node.label", "role")


def _matches(node: Node, wanted: docker_filters.Filters) -> bool:
    if "id" in wanted and not docker_filters.any_prefix(wanted["id"], node.id):
        return False
    if "name" in wanted and node.description.hostname not in wanted["name"]:
        return False
    roles = docker_filters.one_of(wanted, "role", ROLE)
    if roles and node.role.name.lower() not in roles:
        return False
    # Every node listed is in the cluster; a removed one is gone from the store.
    membership = docker_filters.one_of(wanted, "membership", ("accepted", "pending"))
    if membership and "accepted" not in membership:
        return False
    # Engine labels ("label") are not reported by Shoal's agents: a node has none.
    return not wanted.get("label") and docker_filters.labels_match(
        wanted.get("node.label", ()), node.labels
    )


def routes(backend: Backend) -> list[Route]:
    leader = backend.facts.node_id

    async def list_nodes(request: Request) -> Response:
        wanted = docker_filters.parse(request.query_params.get("filters"), LIST_FILTERS)
        answer = await backend.call(Control.ListNodes, pb.ListNodesRequest())
        nodes = [convert.node_from_pb(n) for n in answer.nodes]
        return JSONResponse([node_to_json(n, leader) for n in nodes if _matches(n, wanted)])

    async def get(ref: str) -> Node:
        answer = await backend.call(Control.GetNode, pb.GetNodeRequest(ref=ref))
        return convert.node_from_pb(answer.node)

    async def inspect(request: Request) -> Response:
        return JSONResponse(node_to_json(await get(request.path_params["id"]), leader))

    async def update(request: Request) -> Response:
        expected = version(request, "node")
        node = await get(request.path_params["id"])
        availability, labels = node_spec_from_json(await json_body(request), node)
        await backend.call(
            Control.UpdateNode,
            pb.UpdateNodeRequest(
                node_id=node.id,
                version=expected,
                availability=types_pb.NodeAvailability.ValueType(availability),
                labels=labels,
            ),
        )
        return Response(status_code=200)

    async def remove(request: Request) -> Response:
        await backend.call(
            Control.RemoveNode,
            pb.RemoveNodeRequest(ref=request.path_params["id"], force=flag(request, "force")),
        )
        return Response(status_code=200)

    return [
        Route("/nodes", list_nodes, methods=["GET"]),
        Route("/nodes/{id}", inspect, methods=["GET"]),
        Route("/nodes/{id}", remove, methods=["DELETE"]),
        Route("/nodes/{id}/update", update, methods=["POST"]),
    ]
