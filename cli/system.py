"""`shoal version` and `shoal info`: what docker's `version` and `info` (its Swarm section) say."""

from __future__ import annotations

import argparse
from typing import Any

from cli import humanize, output
from cli.client import Client
from common.info import ClusterInfo
from common.version import Build, this_build


def register_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="Output as text or JSON"
    )
    # The client's part goes out before any connection, so it shows when the manager cannot.
    parser.set_defaults(run=_version, prelude=_client_version)


def register_info(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="Output as text or JSON"
    )
    parser.set_defaults(run=_info)


def _client_version(args: argparse.Namespace) -> None:
    if args.format == "text":
        print("\n".join(["Client:", *_build_lines(this_build())]))


def _version(args: argparse.Namespace, client: Client) -> int:
    server = client.version()
    if args.format == "json":
        output.json_document(
            {"Client": _build_record(this_build()), "Server": _build_record(server)}
        )
    else:
        print("\n".join(["", "Server:", *_build_lines(server)]))
    return 0


def _build_lines(build: Build) -> list[str]:
    field = output.pretty_field
    return [
        field(" Version:", build.version),
        field(" Protocol:", f"{build.protocol} (serves agents from {build.min_agent_protocol})"),
        field(" Python version:", build.python),
        field(" gRPC version:", build.grpc),
        field(" OS/Arch:", f"{build.os}/{build.arch}"),
    ]


def _build_record(build: Build) -> dict[str, object]:
    return {
        "Version": build.version,
        "Protocol": build.protocol,
        "MinAgentProtocol": build.min_agent_protocol,
        "PythonVersion": build.python,
        "GrpcVersion": build.grpc,
        "Os": build.os,
        "Arch": build.arch,
    }


def _info(args: argparse.Namespace, client: Client) -> int:
    info = client.info()
    if args.format == "json":
        output.json_document(_info_record(info))
    else:
        print("\n".join(_info_lines(info)))
    return 0


def _info_lines(info: ClusterInfo) -> list[str]:
    field = output.pretty_field
    lines = [
        field("Cluster ID:", info.cluster_id),
        field("Node ID:", info.node_id),
        field("Manager Address:", info.manager_addr),
        field("Managers:", str(len(info.managers))),
        *(
            field(f" {m.hostname}", f"{m.node_id}  {m.addr}{'  Leader' if m.leader else ''}")
            for m in info.managers
        ),
        field("Nodes:", str(info.nodes)),
        *_counted(info.node_states),
        *_counted(info.node_availabilities),
        field("Services:", str(info.services)),
        field("Tasks:", str(info.tasks)),
        *_counted(info.task_states),
        field("Store:", f"{info.store_backend} ({info.store_location})"),
        "Dispatcher:",
        field(" Heartbeat Period:", humanize.go_duration(info.heartbeat_period)),
        "CA Configuration:",
        field(" CA Expiry:", output.go_time(info.ca_expiry)),
        field(" Node Cert Lifetime:", humanize.go_duration(info.node_cert_lifetime)),
    ]
    if info.node_cert_expiry is not None:
        lines.append(field(" This Node's Cert:", output.go_time(info.node_cert_expiry)))
    lines.append(
        field("Server Version:", f"{info.server.version} (protocol {info.server.protocol})")
    )
    return lines


def _counted(counts: dict[str, int]) -> list[str]:
    return [output.pretty_field(f" {key.capitalize()}:", str(n)) for key, n in counts.items()]


def _info_record(info: ClusterInfo) -> dict[str, Any]:
    return {
        "ClusterID": info.cluster_id,
        "NodeID": info.node_id,
        "ManagerAddr": info.manager_addr,
        "Managers": [
            {"NodeID": m.node_id, "Hostname": m.hostname, "Addr": m.addr, "Leader": m.leader}
            for m in info.managers
        ],
        "Nodes": info.nodes,
        "NodeStates": info.node_states,
        "NodeAvailabilities": info.node_availabilities,
        "Services": info.services,
        "Tasks": info.tasks,
        "TaskStates": info.task_states,
        "Store": {"Backend": info.store_backend, "Location": info.store_location},
        "HeartbeatPeriodSeconds": info.heartbeat_period.total_seconds(),
        "CAExpiry": output.rfc3339(info.ca_expiry),
        "NodeCertLifetimeSeconds": info.node_cert_lifetime.total_seconds(),
        "NodeCertExpiry": (
            output.rfc3339(info.node_cert_expiry) if info.node_cert_expiry is not None else None
        ),
        "Server": _build_record(info.server),
    }
