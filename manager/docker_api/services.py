"""/services: list, create, inspect, update (and rollback), remove; each through the Control
servicer's own call."""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common import convert
from common.api import control_pb2 as pb
from common.api import types_pb2
from common.errors import InvalidArgument
from common.model import FileReference, Node, ServiceMode, ServiceSpec
from manager.control import Control
from manager.docker_api import filters as docker_filters
from manager.docker_api.backend import Backend
from manager.docker_api.requests import flag, json_body, version
from manager.docker_api.shapes.objects import service_to_json
from manager.docker_api.shapes.platforms import check_platforms, take_platforms
from manager.docker_api.shapes.registry_auth import HEADER, registry_auth_from_header
from manager.docker_api.shapes.service_spec import spec_from_json

LIST_FILTERS = ("id", "label", "mode", "name")
_MODES = {
    "replicated": ServiceMode.REPLICATED,
    "global": ServiceMode.GLOBAL,
    "replicated-job": ServiceMode.REPLICATED_JOB,
    "global-job": ServiceMode.GLOBAL_JOB,
}


def _auth(request: Request) -> dict[str, types_pb2.RegistryAuth]:
    """The request's registry_auth field from X-Registry-Auth: none without one."""
    auth = registry_auth_from_header(request.headers.get(HEADER))
    return {} if auth is None else {"registry_auth": convert.registry_auth_to_pb(auth)}


def _same_versions(spec: ServiceSpec, current: ServiceSpec) -> ServiceSpec:
    """spec with each secret and config reference it keeps from current at the version current
    has: docker's clients send no version, which would move the service to the newest one."""

    def kept(
        refs: tuple[FileReference, ...], old: tuple[FileReference, ...]
    ) -> tuple[FileReference, ...]:
        versions = {(r.id, r.target): r.version for r in old}
        return tuple(replace(r, version=versions.get((r.id, r.target), r.version)) for r in refs)

    container = replace(
        spec.container,
        secrets=kept(spec.container.secrets, current.container.secrets),
        configs=kept(spec.container.configs, current.container.configs),
    )
    return replace(spec, container=container)


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

    async def spec_of(request: Request) -> ServiceSpec:
        body = await json_body(request)
        platforms = take_platforms(body)
        spec = spec_from_json(body)
        check_platforms(platforms, backend.view.objects(Node))
        return spec

    async def create(request: Request) -> Response:
        spec = await spec_of(request)
        answer = await backend.call(
            Control.CreateService,
            pb.CreateServiceRequest(spec=convert.spec_to_pb(spec), **_auth(request)),
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
        spec = await spec_of(request)
        auth = _auth(request)
        answer = await backend.call(Control.GetService, pb.GetServiceRequest(ref=ref))
        current = convert.service_from_pb(answer.service)
        spec = _same_versions(spec, current.spec)
        await backend.call(
            Control.UpdateService,
            pb.UpdateServiceRequest(
                service_id=current.id, version=expected, spec=convert.spec_to_pb(spec), **auth
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
