"""pb2 <-> domain for the System service (`shoal version`, `shoal info`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from common.api import system_pb2 as pb
from common.info import ClusterInfo, ManagerNode
from common.version import Build


def build_to_pb(b: Build) -> pb.Build:
    return pb.Build(
        version=b.version,
        protocol=b.protocol,
        min_agent_protocol=b.min_agent_protocol,
        python=b.python,
        grpc=b.grpc,
        os=b.os,
        arch=b.arch,
    )


def build_from_pb(msg: pb.Build) -> Build:
    return Build(
        version=msg.version,
        protocol=msg.protocol,
        min_agent_protocol=msg.min_agent_protocol,
        python=msg.python,
        grpc=msg.grpc,
        os=msg.os,
        arch=msg.arch,
    )


def info_to_pb(i: ClusterInfo) -> pb.ClusterInfo:
    msg = pb.ClusterInfo(
        cluster_id=i.cluster_id,
        node_id=i.node_id,
        manager_addr=i.manager_addr,
        managers=[
            pb.ManagerNode(node_id=m.node_id, hostname=m.hostname, addr=m.addr, leader=m.leader)
            for m in i.managers
        ],
        nodes=i.nodes,
        node_states=_counts_to_pb(i.node_states),
        node_availabilities=_counts_to_pb(i.node_availabilities),
        services=i.services,
        tasks=i.tasks,
        task_states=_counts_to_pb(i.task_states),
        store_backend=i.store_backend,
        store_location=i.store_location,
        server=build_to_pb(i.server),
    )
    msg.heartbeat_period.FromTimedelta(i.heartbeat_period)
    msg.ca_expiry.FromDatetime(i.ca_expiry)
    msg.node_cert_lifetime.FromTimedelta(i.node_cert_lifetime)
    if i.node_cert_expiry is not None:
        msg.node_cert_expiry.FromDatetime(i.node_cert_expiry)
    return msg


def info_from_pb(msg: pb.ClusterInfo) -> ClusterInfo:
    return ClusterInfo(
        cluster_id=msg.cluster_id,
        node_id=msg.node_id,
        manager_addr=msg.manager_addr,
        managers=tuple(ManagerNode(m.node_id, m.hostname, m.addr, m.leader) for m in msg.managers),
        nodes=msg.nodes,
        node_states=_counts_from_pb(msg.node_states),
        node_availabilities=_counts_from_pb(msg.node_availabilities),
        services=msg.services,
        tasks=msg.tasks,
        task_states=_counts_from_pb(msg.task_states),
        store_backend=msg.store_backend,
        store_location=msg.store_location,
        heartbeat_period=_duration(msg.heartbeat_period),
        ca_expiry=_time(msg.ca_expiry),
        node_cert_lifetime=_duration(msg.node_cert_lifetime),
        node_cert_expiry=_time(msg.node_cert_expiry) if msg.HasField("node_cert_expiry") else None,
        server=build_from_pb(msg.server),
    )


def _counts_to_pb(counts: Mapping[str, int]) -> Iterable[pb.Count]:
    return [pb.Count(key=key, count=count) for key, count in counts.items()]


def _counts_from_pb(counts: Iterable[pb.Count]) -> dict[str, int]:
    return {c.key: c.count for c in counts}


def _duration(d: Duration) -> timedelta:
    return d.ToTimedelta()


def _time(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)
