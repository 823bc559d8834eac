"""The network calls of the Control contract in memory, for the CLI's fake manager."""

from __future__ import annotations

import grpc

from common import convert
from common import model as m
from common.api import control_pb2 as api
from common.ids import new_id


class FakeNetworks:
    """Networks by name or ID; NOT_FOUND for unknown ones, ALREADY_EXISTS for a taken name."""

    def __init__(self) -> None:
        super().__init__()
        self.networks: dict[str, m.Network] = {}

    def _find(self, ref: str, context: grpc.ServicerContext) -> m.Network:
        for network in self.networks.values():
            if ref in (network.id, network.name):
                return network
        context.abort(grpc.StatusCode.NOT_FOUND, f"network {ref} not found")
        raise AssertionError("abort returns only by raising")

    def CreateNetwork(
        self, request: api.CreateNetworkRequest, context: grpc.ServicerContext
    ) -> api.NetworkResponse:
        if any(n.name == request.name for n in self.networks.values()):
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"network {request.name} exists")
        network = m.Network(
            id=new_id(),
            name=request.name,
            subnet=request.subnet or "10.128.0.0/16",
            vni=4096,
            labels=dict(request.labels),
        )
        self.networks[network.id] = network
        return api.NetworkResponse(network=convert.network_to_pb(network))

    def GetNetwork(
        self, request: api.GetNetworkRequest, context: grpc.ServicerContext
    ) -> api.NetworkResponse:
        return api.NetworkResponse(network=convert.network_to_pb(self._find(request.ref, context)))

    def ListNetworks(
        self, request: api.ListNetworksRequest, context: grpc.ServicerContext
    ) -> api.ListNetworksResponse:
        listed = sorted(self.networks.values(), key=lambda n: n.name)
        return api.ListNetworksResponse(networks=[convert.network_to_pb(n) for n in listed])

    def RemoveNetwork(
        self, request: api.RemoveNetworkRequest, context: grpc.ServicerContext
    ) -> api.RemoveNetworkResponse:
        network = self._find(request.ref, context)
        del self.networks[network.id]
        return api.RemoveNetworkResponse(id=network.id)
