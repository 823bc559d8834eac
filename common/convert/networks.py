"""Cluster networks and the views a node gets of them and of the routing mesh."""

from __future__ import annotations

from common import model as m
from common.api import dispatcher_pb2 as dpb
from common.api import types_pb2 as pb
from common.convert.base import meta_from_pb, meta_to_pb
from common.mesh_view import IngressBackend, IngressPort
from common.netview import Endpoint, NetworkView, NodeNetwork


def network_to_pb(n: m.Network) -> pb.Network:
    return pb.Network(
        id=n.id,
        meta=meta_to_pb(n.meta),
        name=n.name,
        subnet=n.subnet,
        vni=n.vni,
        labels=n.labels,
        slices=n.slices,
    )


def network_from_pb(msg: pb.Network) -> m.Network:
    return m.Network(
        id=msg.id,
        meta=meta_from_pb(msg.meta),
        name=msg.name,
        subnet=msg.subnet,
        vni=msg.vni,
        labels=dict(msg.labels),
        slices=dict(msg.slices),
    )


def network_view_to_pb(view: NetworkView) -> dpb.NetworkView:
    return dpb.NetworkView(
        networks=[
            dpb.NodeNetwork(
                id=n.id,
                name=n.name,
                subnet=n.subnet,
                vni=n.vni,
                slice=n.slice,
                gateway=n.gateway,
                peers=n.peers,
                endpoints=[
                    dpb.NetworkEndpoint(
                        service_name=e.service_name,
                        virtual_ip=e.virtual_ip,
                        addresses=e.addresses,
                        aliases=e.aliases,
                    )
                    for e in n.endpoints
                ],
            )
            for n in view.networks
        ],
        foreign_subnets=view.foreign_subnets,
    )


def network_view_from_pb(msg: dpb.NetworkView) -> NetworkView:
    return NetworkView(
        networks=tuple(
            NodeNetwork(
                id=n.id,
                name=n.name,
                subnet=n.subnet,
                vni=n.vni,
                slice=n.slice,
                gateway=n.gateway,
                peers=tuple(n.peers),
                endpoints=tuple(
                    Endpoint(e.service_name, e.virtual_ip, tuple(e.addresses), tuple(e.aliases))
                    for e in n.endpoints
                ),
            )
            for n in msg.networks
        ),
        foreign_subnets=tuple(msg.foreign_subnets),
    )


def ingress_port_to_pb(p: IngressPort) -> dpb.IngressPort:
    return dpb.IngressPort(
        service_id=p.service_id,
        published=p.published,
        protocol=pb.PortProtocol.ValueType(p.protocol),
        backends=[
            dpb.IngressBackend(
                task_id=b.task_id,
                node_id=b.node_id,
                addr=b.addr,
                host_port=b.host_port,
                container_ip=b.container_ip,
                target=b.target,
            )
            for b in p.backends
        ],
    )


def ingress_port_from_pb(msg: dpb.IngressPort) -> IngressPort:
    return IngressPort(
        service_id=msg.service_id,
        published=msg.published,
        protocol=m.PortProtocol(msg.protocol),
        backends=tuple(
            IngressBackend(
                task_id=b.task_id,
                node_id=b.node_id,
                addr=b.addr,
                host_port=b.host_port,
                container_ip=b.container_ip,
                target=b.target,
            )
            for b in msg.backends
        ),
    )
