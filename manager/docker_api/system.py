"""/_ping, /version, /info and /swarm: who answers, and the cluster as docker's swarm."""

from __future__ import annotations

import os
import platform
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from common.api import control_pb2 as pb
from common.api import types_pb2 as types_pb
from common.model import Cluster, Node, NodeRole
from common.version import this_build
from manager.control import Control
from manager.docker_api.apiversion import API_VERSION, MIN_API_VERSION
from manager.docker_api.backend import Backend
from manager.docker_api.shapes.times import nanos, timestamp
from manager.system import summarize

# Docker names architectures as Go does.
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}
# UDP port of the VXLAN traffic between nodes (agent.overlay).
DATA_PATH_PORT = 4789


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
        cluster = backend.view.objects(Cluster)[0]
        facts = backend.facts
        out: dict[str, Any] = {
            "ID": cluster.id,
            "Version": {"Index": cluster.meta.version},
            "CreatedAt": timestamp(cluster.meta.created_at),
            "UpdatedAt": timestamp(cluster.meta.updated_at),
            "Spec": {
                "Name": "default",
                "Labels": {},
                "Dispatcher": {"HeartbeatPeriod": nanos(facts.heartbeat_period)},
                "CAConfig": {"NodeCertExpiry": nanos(facts.node_cert_lifetime)},
            },
            "RootRotationInProgress": False,
            "DataPathPort": DATA_PATH_PORT,
        }
        if tokens:
            out["JoinTokens"] = {
                "Worker": await _token(backend, NodeRole.WORKER),
                "Manager": await _token(backend, NodeRole.MANAGER),
            }
        return out

    async def swarm(request: Request) -> Response:
        return JSONResponse(await swarm_json(tokens=True))

    async def info(request: Request) -> Response:
        summary = summarize(backend.view, backend.facts)
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

    return [
        Route("/_ping", ping, methods=["GET", "HEAD"]),
        Route("/version", version, methods=["GET"]),
        Route("/info", info, methods=["GET"]),
        Route("/swarm", swarm, methods=["GET"]),
    ]


async def _token(backend: Backend, role: NodeRole) -> str:
    request = pb.GetJoinTokenRequest(role=types_pb.NodeRole.ValueType(role))
    answer = await backend.call(Control.GetJoinToken, request)
    return answer.token
