"""Nodes, their descriptions and the cluster object."""

from __future__ import annotations

from datetime import timedelta

from common import model as m
from common.api import dispatcher_pb2 as dpb
from common.api import types_pb2 as pb
from common.convert.base import meta_from_pb, meta_to_pb, resources_from_pb, resources_to_pb


def description_to_pb(d: m.NodeDescription) -> pb.NodeDescription:
    return pb.NodeDescription(
        hostname=d.hostname,
        engine_version=d.engine_version,
        engine_id=d.engine_id,
        resources=resources_to_pb(d.resources),
        os=d.os,
        arch=d.arch,
        shoal_version=d.version,
        protocol=d.protocol,
        data_addr=d.data_addr,
    )


def description_from_pb(msg: pb.NodeDescription) -> m.NodeDescription:
    return m.NodeDescription(
        hostname=msg.hostname,
        engine_version=msg.engine_version,
        engine_id=msg.engine_id,
        resources=resources_from_pb(msg.resources),
        os=msg.os,
        arch=msg.arch,
        version=msg.shoal_version,
        protocol=msg.protocol,
        data_addr=msg.data_addr,
    )


def node_to_pb(n: m.Node) -> pb.Node:
    return pb.Node(
        id=n.id,
        meta=meta_to_pb(n.meta),
        role=pb.NodeRole.ValueType(n.role),
        availability=pb.NodeAvailability.ValueType(n.availability),
        state=pb.NodeState.ValueType(n.state),
        message=n.message,
        description=description_to_pb(n.description),
        addr=n.addr,
        labels=n.labels,
        cert_root=n.cert_root,
    )


def node_from_pb(msg: pb.Node) -> m.Node:
    return m.Node(
        id=msg.id,
        meta=meta_from_pb(msg.meta),
        role=m.NodeRole(msg.role),
        availability=m.Availability(msg.availability),
        state=m.NodeState(msg.state),
        message=msg.message,
        description=description_from_pb(msg.description),
        addr=msg.addr,
        labels=dict(msg.labels),
        cert_root=msg.cert_root,
    )


def cluster_to_pb(c: m.Cluster) -> pb.Cluster:
    return pb.Cluster(
        id=c.id,
        meta=meta_to_pb(c.meta),
        digest=c.digest,
        worker_secret=c.clear_worker_secret,
        manager_secret=c.clear_manager_secret,
        admin_generation=c.admin_generation,
        sealed_worker_secret=c.sealed_worker_secret,
        sealed_manager_secret=c.sealed_manager_secret,
        sealed_unlock_key=c.sealed_unlock_key,
        ca_cert_pem=c.ca_cert_pem,
        ca_key_sealed=c.ca_key_sealed,
        rotation=None if c.rotation is None else _rotation_to_pb(c.rotation),
        retired_digests=c.retired_digests,
        ca_generation=c.ca_generation,
        node_cert_expiry_seconds=0
        if c.node_cert_expiry is None
        else int(c.node_cert_expiry.total_seconds()),
    )


def _rotation_to_pb(r: m.RootRotation) -> pb.RootRotation:
    return pb.RootRotation(
        ca_cert_pem=r.ca_cert_pem,
        ca_key_sealed=r.ca_key_sealed,
        cross_signed_pem=r.cross_signed_pem,
        old_cert_pem=r.old_cert_pem,
    )


def cluster_from_pb(msg: pb.Cluster) -> m.Cluster:
    return m.Cluster(
        id=msg.id,
        meta=meta_from_pb(msg.meta),
        digest=msg.digest,
        sealed_worker_secret=msg.sealed_worker_secret,
        sealed_manager_secret=msg.sealed_manager_secret,
        admin_generation=msg.admin_generation,
        clear_worker_secret=msg.worker_secret,
        clear_manager_secret=msg.manager_secret,
        sealed_unlock_key=msg.sealed_unlock_key,
        ca_cert_pem=msg.ca_cert_pem,
        ca_key_sealed=msg.ca_key_sealed,
        rotation=m.RootRotation(
            ca_cert_pem=msg.rotation.ca_cert_pem,
            ca_key_sealed=msg.rotation.ca_key_sealed,
            cross_signed_pem=msg.rotation.cross_signed_pem,
            old_cert_pem=msg.rotation.old_cert_pem,
        )
        if msg.HasField("rotation")
        else None,
        retired_digests=tuple(msg.retired_digests),
        ca_generation=msg.ca_generation,
        node_cert_expiry=timedelta(seconds=msg.node_cert_expiry_seconds)
        if msg.node_cert_expiry_seconds
        else None,
    )


def manager_status_to_pb(s: m.ManagerStatus) -> pb.ManagerStatus:
    return pb.ManagerStatus(
        leader=s.leader, reachability=pb.Reachability.ValueType(s.reachability), addr=s.addr
    )


def manager_status_from_pb(msg: pb.ManagerStatus) -> m.ManagerStatus:
    return m.ManagerStatus(
        leader=msg.leader, reachability=m.Reachability(msg.reachability), addr=msg.addr
    )


def manager_list_to_pb(managers: m.ManagerList) -> dpb.ManagerList:
    return dpb.ManagerList(addrs=managers.addrs)


def manager_list_from_pb(msg: dpb.ManagerList) -> m.ManagerList:
    return m.ManagerList(addrs=tuple(msg.addrs))
