"""/tasks: list with docker's filters, inspect."""

from __future__ import annotations

import itertools

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common import convert
from common.api import control_pb2 as pb
from common.model import Service, Task, TaskState
from common.taskstate import is_dirty
from manager.control import Control
from manager.control.resolve import resolve_task
from manager.docker_api import filters as docker_filters
from manager.docker_api.backend import Backend
from manager.docker_api.shapes.objects import state_word, task_to_json

# "_up-to-date" is what `docker service create/update --detach=false` asks for: the tasks made
# from the service's current spec.
LIST_FILTERS = ("id", "name", "service", "node", "desired-state", "label", "_up-to-date")
_DESIRED = {state_word(s) for s in TaskState}


def routes(backend: Backend) -> list[Route]:
    async def list_tasks(request: Request) -> Response:
        wanted = docker_filters.parse(request.query_params.get("filters"), LIST_FILTERS)
        desired = set(docker_filters.one_of(wanted, "desired-state", _DESIRED))
        up_to_date = docker_filters.one_of(wanted, "_up-to-date", ("true", "false"))
        seen: dict[str, Task] = {}
        for service_ref, node_ref in itertools.product(
            wanted.get("service", ("",)), wanted.get("node", ("",))
        ):
            answer = await backend.call(
                Control.ListTasks, pb.ListTasksRequest(service_ref=service_ref, node_ref=node_ref)
            )
            for message in answer.tasks:
                task = convert.task_from_pb(message)
                seen.setdefault(task.id, task)
        found = []
        for task in seen.values():
            service = backend.view.get(Service, task.service_id)
            labels = service.spec.labels if service is not None else {}
            if (
                ("id" in wanted and not docker_filters.any_prefix(wanted["id"], task.id))
                or ("name" in wanted and not docker_filters.any_prefix(wanted["name"], task.name))
                or (desired and state_word(task.desired_state) not in desired)
                or not docker_filters.labels_match(wanted.get("label", ()), labels)
                or (
                    up_to_date
                    and (service is None or is_dirty(task, service.spec) == ("true" in up_to_date))
                )
            ):
                continue
            found.append(task_to_json(task))
        return JSONResponse(found)

    async def inspect(request: Request) -> Response:
        return JSONResponse(task_to_json(resolve_task(backend.view, request.path_params["id"])))

    return [
        Route("/tasks", list_tasks, methods=["GET"]),
        Route("/tasks/{id}", inspect, methods=["GET"]),
    ]
