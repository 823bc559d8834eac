"""How each kind of stored object is named and serialized, whichever backend keeps it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from common import convert
from common.api import types_pb2
from common.model import Cluster, Config, Network, Node, Secret, Service, StoredObject, Task

_Codec = tuple[str, Callable[[Any], Message], Callable[[bytes], StoredObject]]


def _decoder(
    msg_type: type[Message], from_pb: Callable[[Any], StoredObject]
) -> Callable[[bytes], StoredObject]:
    def decode(data: bytes) -> StoredObject:
        msg = msg_type()
        msg.ParseFromString(data)
        return from_pb(msg)

    return decode


CODECS: dict[type, _Codec] = {
    Node: ("node", convert.node_to_pb, _decoder(types_pb2.Node, convert.node_from_pb)),
    Service: (
        "service",
        convert.stored_service_to_pb,
        _decoder(types_pb2.Service, convert.stored_service_from_pb),
    ),
    Task: ("task", convert.task_to_pb, _decoder(types_pb2.Task, convert.task_from_pb)),
    Cluster: (
        "cluster",
        convert.cluster_to_pb,
        _decoder(types_pb2.Cluster, convert.cluster_from_pb),
    ),
    Network: (
        "network",
        convert.network_to_pb,
        _decoder(types_pb2.Network, convert.network_from_pb),
    ),
    Secret: (
        "secret",
        convert.sealed_to_pb,
        _decoder(types_pb2.SealedObject, convert.secret_from_pb),
    ),
    Config: (
        "config",
        convert.sealed_to_pb,
        _decoder(types_pb2.SealedObject, convert.config_from_pb),
    ),
}
KIND_TYPES = {name: cls for cls, (name, _, _) in CODECS.items()}


def kind_name(obj: StoredObject) -> str:
    return CODECS[type(obj)][0]


def encode(obj: StoredObject) -> bytes:
    return CODECS[type(obj)][1](obj).SerializeToString()


def decode(kind: str, data: bytes) -> StoredObject:
    return CODECS[KIND_TYPES[kind]][2](data)
