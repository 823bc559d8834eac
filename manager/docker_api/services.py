"""/services: list, create, inspect, update (and rollback), remove; each through the Control
servicer's own call."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common import convert
from common.api import control_pb2 as pb
from common.errors import InvalidArgument
from common.model import ServiceMode
from manager.control import Control
from manager.docker_api import filters as docker_filters
from manager.docker_api.backend import Backend
from manager.docker_api.requests import flag, json_body, version
from manager.docker_api.shapes.objects import service_to_json
from manager.docker_api.shapes.service_spec import spec_from_json

LIST_FILTERS = ("id", "label", "mode", "name")
_MODES = {"replicated": ServiceMode.REPLICATED, "global": ServiceMode.GLOBAL}


def routes(backend: Backend) -> list[Route]:
    async def list_services(request: Request) -> Response:
        wanted = docker_filters.parse(request.query_params.get("filters"), LIST_FILTERS)
        modes = {_MODES[m] for m in docker_filters.one_of(wanted, "mode", _MODES)}
        with_status = flag(request, "status")
        answer = await backend.call(Control.ListServices, pb.ListServicesRequest())
        found = []
        for view in answer.services:
            service = convert.service_from_pb(view.service)
            if (
                ("id" in wanted and not docker_filters.any_prefix(wanted["id"], service.id))
                or (
                    "name" in wanted
                    and not docker_filters.any_prefix(wanted["name"], service.spec.name)
                )
                or not docker_filters.labels_match(wanted.get("label", ()), service.spec.labels)
                or (modes and service.spec.mode not in modes)
            ):
                continue
            status = (view.running_tasks, view.desired_tasks) if with_status else None
            found.append(service_to_json(service, status))
        return JSONResponse(found)

    async def create(request: Request) -> Response:
        spec = spec_from_json(await json_body(request))
        answer = await backend.call(
            Control.CreateService, pb.CreateServiceRequest(spec=convert.spec_to_pb(spec))
        )
        return JSONResponse({"ID": answer.service.id, "Warnings": None}, status_code=201)

    async def inspect(request: Request) -> Response:
        answer = await backend.call(
            Control.GetService, pb.GetServiceRequest(ref=request.path_params["id"])
        )
        return JSONResponse(service_to_json(convert.service_from_pb(answer.service)))

    async def update(request: Request) -> Response:
        ref = request.path_params["id"]
        expected = version(request, "service")
        rollback = request.query_params.get("rollback", "")
        if rollback not in ("", "previous"):
            raise InvalidArgument(f"invalid value {rollback!r} of rollback: expected previous")
        if rollback:
            # docker sends the current spec along; what counts is the previous one.
            await backend.call(Control.RollbackService, pb.RollbackServiceRequest(ref=ref))
            return JSONResponse({"Warnings": []})
        spec = spec_from_json(await json_body(request))
        current = await backend.call(Control.GetService, pb.GetServiceRequest(ref=ref))
        await backend.call(
            Control.UpdateService,
            pb.UpdateServiceRequest(
                service_id=current.service.id, version=expected, spec=convert.spec_to_pb(spec)
            ),
        )
        return JSONResponse({"Warnings": []})

    async def remove(request: Request) -> Response:
        await backend.call(
            Control.RemoveService, pb.RemoveServiceRequest(ref=request.path_params["id"])
        )
        return Response(status_code=200)

    return [
        Route("/services", list_services, methods=["GET"]),
        Route("/services/create", create, methods=["POST"]),
        Route("/services/{id}", inspect, methods=["GET"]),
        Route("/services/{id}", remove, methods=["DELETE"]),
        Route("/services/{id}/update", update, methods=["POST"]),
    ]
