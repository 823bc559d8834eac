"""/secrets and /configs: list (docker's id, name, names and label filters), create, inspect,
update (labels only, as docker), remove; each through the Control servicer's own data calls,
so a secret is sealed with the data key there and its data never comes back."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common import convert
from common.api import control_pb2 as pb
from common.errors import InvalidArgument
from common.limits import MAX_CONFIG_BYTES
from common.model import DataInfo
from manager.control import Control
from manager.control.files import LABELS_ONLY
from manager.docker_api import filters as docker_filters
from manager.docker_api.backend import Backend
from manager.docker_api.requests import json_body, version
from manager.docker_api.shapes.files import data_spec_from_json, data_to_json

LIST_FILTERS = ("id", "label", "name", "names")
# A config's data, base64 in JSON, with room for the rest of its spec.
BODY_LIMIT = MAX_CONFIG_BYTES * 4 // 3 + 64 * 1024


def _matches(wanted: docker_filters.Filters, info: DataInfo) -> bool:
    return not (
        ("id" in wanted and not docker_filters.any_prefix(wanted["id"], info.id))
        or ("name" in wanted and not docker_filters.any_prefix(wanted["name"], info.name))
        or ("names" in wanted and info.name not in wanted["names"])
        or not docker_filters.labels_match(wanted.get("label", ()), info.labels)
    )


def routes(backend: Backend) -> list[Route]:
    found: list[Route] = []
    for plural, kind in (("secrets", pb.DATA_KIND_SECRET), ("configs", pb.DATA_KIND_CONFIG)):
        found += _routes(backend, plural, kind)
    return found


def _routes(backend: Backend, plural: str, kind: pb.DataKind.ValueType) -> list[Route]:
    config = kind == pb.DATA_KIND_CONFIG

    async def get(ref: str) -> DataInfo:
        answer = await backend.call(Control.GetData, pb.GetDataRequest(kind=kind, ref=ref))
        return convert.data_info_from_pb(answer.info)

    async def list_all(request: Request) -> Response:
        wanted = docker_filters.parse(request.query_params.get("filters"), LIST_FILTERS)
        answer = await backend.call(Control.ListData, pb.ListDataRequest(kind=kind))
        items = [convert.data_info_from_pb(item) for item in answer.items]
        chosen = [info for info in items if _matches(wanted, info)]
        if config:
            # The list leaves out the data, which docker's list shows for configs.
            chosen = [await get(info.id) for info in chosen]
        return JSONResponse([data_to_json(info) for info in chosen])

    async def create(request: Request) -> Response:
        spec = data_spec_from_json(await json_body(request, BODY_LIMIT))
        answer = await backend.call(
            Control.CreateData,
            pb.CreateDataRequest(
                kind=kind, name=spec.name, labels=spec.labels, data=spec.data or b""
            ),
        )
        return JSONResponse({"ID": answer.info.id}, status_code=201)

    async def inspect(request: Request) -> Response:
        return JSONResponse(data_to_json(await get(request.path_params["id"])))

    async def update(request: Request) -> Response:
        expected = version(request, plural[:-1])
        spec = data_spec_from_json(await json_body(request, BODY_LIMIT))
        current = await get(request.path_params["id"])
        if spec.name != current.name:
            raise InvalidArgument(f"{LABELS_ONLY}: the name cannot change")
        request_pb = pb.UpdateDataLabelsRequest(
            kind=kind, ref=current.id, version=expected, labels=spec.labels
        )
        # Data sent back unchanged is taken (`docker stack deploy` sends it again); the leader
        # compares it, for only it may open a secret's.
        if spec.data is not None:
            request_pb.data = spec.data
        await backend.call(Control.UpdateDataLabels, request_pb)
        return Response(status_code=200)

    async def remove(request: Request) -> Response:
        await backend.call(
            Control.RemoveData, pb.RemoveDataRequest(kind=kind, ref=request.path_params["id"])
        )
        return Response(status_code=204)

    return [
        Route(f"/{plural}", list_all, methods=["GET"]),
        Route(f"/{plural}/create", create, methods=["POST"]),
        Route(f"/{plural}/{{id}}", inspect, methods=["GET"]),
        Route(f"/{plural}/{{id}}", remove, methods=["DELETE"]),
        Route(f"/{plural}/{{id}}/update", update, methods=["POST"]),
    ]
