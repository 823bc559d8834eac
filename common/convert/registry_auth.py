"""Registry credentials, and the one form of a service that carries them sealed: the store's."""

from __future__ import annotations

from dataclasses import replace

from common import model as m
from common.api import types_pb2 as pb
from common.convert.services import service_from_pb, service_to_pb


def registry_auth_to_pb(a: m.RegistryAuth) -> pb.RegistryAuth:
    return pb.RegistryAuth(
        username=a.username,
        password=a.password,
        server_address=a.server_address,
        identity_token=a.identity_token,
    )


def registry_auth_from_pb(msg: pb.RegistryAuth) -> m.RegistryAuth:
    return m.RegistryAuth(
        username=msg.username,
        password=msg.password,
        server_address=msg.server_address,
        identity_token=msg.identity_token,
    )


def stored_service_to_pb(s: m.Service) -> pb.Service:
    """service_to_pb with the sealed credentials, which only the store keeps: every other
    reader of a service (the Control API, events, the dashboard) gets it without them."""
    msg = service_to_pb(s)
    msg.sealed_registry_auth = s.sealed_registry_auth
    return msg


def stored_service_from_pb(msg: pb.Service) -> m.Service:
    return replace(service_from_pb(msg), sealed_registry_auth=msg.sealed_registry_auth)
