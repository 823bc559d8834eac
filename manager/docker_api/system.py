"""/_ping, /version, /info and /swarm: who answers, and the cluster as docker's swarm, whose join
tokens /swarm/update rotates."""

from __future__ import annotations

import os
import platform
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from common.api import control_pb2 as pb
from common.api import types_pb2 as types_pb
from common.errors import InvalidArgument
from common.model import Cluster, Node, NodeRole
from common.version import this_build
from manager.control import Control
from manager.docker_api.apiversion import API_VERSION, MIN_API_VERSION
from manager.docker_api.backend import Backend
from manager.docker_api.requests import flag, json_body
from manager.docker_api.shapes.swarm import check_unchanged, swarm_to_json
from manager.system import summarize

# Docker names architectures as Go does.
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}


def _arch() -> str:
    machine = platform.machine()
    return _GO_ARCH.get(machine, machine)


def routes(backend: Backend) -> list[Route]:
    async def ping(request: Request) -> Response:
        headers = {
            "API-Version": API_VERSION,
            "OSType": "linux",
            "Docker-Experimental": "false",
            "Swarm": "active/manager",
            "Cache-Control": "no-cache, no-store, must-revalidate",
            "Pragma": "no-cache",
        }
        body = "" if request.method == "HEAD" else "OK"
        return PlainTextResponse(body, headers=headers)

    async def version(request: Request) -> Response:
        build = this_build()
        details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux"}
        return JSONResponse(
            {
                "Platform": {"Name": f"Shoal {build.version}"},
                "Components": [
                    {"Name": "Shoal manager", "Version": build.version, "Details": details}
                ],
                "Version": build.version,
                "ApiVersion": API_VERSION,
                "MinAPIVersion": MIN_API_VERSION,
                "GitCommit": "",
                "GoVersion": f"python{build.python}",
                "Os": "linux",
                "Arch": _arch(),
                "KernelVersion": platform.release(),
            }
        )

    async def swarm_json(*, tokens: bool) -> dict[str, Any]:
        facts = backend.facts
        cluster = backend.view.objects(Cluster)[0]
        out = swarm_to_json(cluster, facts.heartbeat_period, facts.node_cert_lifetime)
        if tokens:
            out["JoinTokens"] = {
                "Worker": await _token(backend, NodeRole.WORKER),
                "Manager": await _token(backend, NodeRole.MANAGER),
            }
        return out

    async def swarm(request: Request) -> Response:
        return JSONResponse(await swarm_json(tokens=True))

    async def info(request: Request) -> Response:
        summary = summarize(backend.view, backend.facts, backend.managers.leader())
        own = backend.view.get(Node, backend.facts.node_id)
        host = own.description.hostname if own is not None else ""
        memory = own.description.resources.memory_bytes if own is not None else 0
        build = this_build()
        return JSONResponse(
            {
                "ID": summary.node_id,
                "Name": host,
                "ServerVersion": build.version,
                "OperatingSystem": f"Shoal manager {build.version}",
                "OSType": "linux",
                "Architecture": _arch(),
                "KernelVersion": platform.release(),
                "NCPU": os.cpu_count() or 1,
                "MemTotal": memory,
                "Containers": 0,
                "Images": 0,
                "Labels": [],
                "ExperimentalBuild": False,
                "Swarm": {
                    "NodeID": summary.node_id,
                    "NodeAddr": summary.manager_addr.rpartition(":")[0],
                    "LocalNodeState": "active",
                    "ControlAvailable": True,
                    "Error": "",
                    "RemoteManagers": [
                        {"NodeID": m.node_id, "Addr": m.addr} for m in summary.managers
                    ],
                    "Nodes": summary.nodes,
                    "Managers": len(summary.managers),
                    "Cluster": await swarm_json(tokens=False),
                },
            }
        )

    async def update(request: Request) -> Response:
        """What `docker swarm join-token --rotate` sends: the spec as read, and which token to
        replace. The spec itself cannot be changed here."""
        facts = backend.facts
        check_unchanged(await json_body(request), facts.heartbeat_period, facts.node_cert_lifetime)
        if flag(request, "rotateManagerUnlockKey"):
            raise InvalidArgument("Shoal's managers have no unlock key to rotate")
        for role, asked in (
            (NodeRole.WORKER, flag(request, "rotateWorkerToken")),
            (NodeRole.MANAGER, flag(request, "rotateManagerToken")),
        ):
            if asked:
                await _token(backend, role, rotate=True)
        return Response(status_code=200)

    return [
        Route("/_ping", ping, methods=["GET", "HEAD"]),
        Route("/version", version, methods=["GET"]),
        Route("/info", info, methods=["GET"]),
        Route("/swarm", swarm, methods=["GET"]),
        Route("/swarm/update", update, methods=["POST"]),
    ]


async def _token(backend: Backend, role: NodeRole, *, rotate: bool = False) -> str:
    request = pb.GetJoinTokenRequest(role=types_pb.NodeRole.ValueType(role), rotate=rotate)
    answer = await backend.call(Control.GetJoinToken, request)
    return answer.token
