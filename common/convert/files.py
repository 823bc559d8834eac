"""Secrets and configs: the references in container specs, the sealed objects the store keeps,
what clients see of them, and their data as a node receives it."""

from __future__ import annotations

from typing import TypeVar

from common import model as m
from common.api import control_pb2 as cpb
from common.api import dispatcher_pb2 as dpb
from common.api import types_pb2 as pb
from common.convert.base import meta_from_pb, meta_to_pb, ts_from_pb, ts_to_pb

S = TypeVar("S", bound=m.SealedObject)


def file_ref_to_pb(ref: m.FileReference) -> pb.FileReference:
    return pb.FileReference(
        id=ref.id,
        name=ref.name,
        version=ref.version,
        target=ref.target,
        uid=ref.uid,
        gid=ref.gid,
        mode=ref.mode,
    )


def file_ref_from_pb(msg: pb.FileReference) -> m.FileReference:
    return m.FileReference(
        name=msg.name,
        target=msg.target,
        id=msg.id,
        version=msg.version,
        uid=msg.uid,
        gid=msg.gid,
        mode=msg.mode,
    )


def sealed_to_pb(obj: m.SealedObject) -> pb.SealedObject:
    return pb.SealedObject(
        id=obj.id,
        meta=meta_to_pb(obj.meta),
        name=obj.name,
        labels=obj.labels,
        versions=[
            pb.SealedVersion(version=v.version, sealed=v.sealed, created_at=ts_to_pb(v.created_at))
            for v in obj.versions
        ],
    )


def _sealed_from_pb(kind: type[S], msg: pb.SealedObject) -> S:
    return kind(
        id=msg.id,
        meta=meta_from_pb(msg.meta),
        name=msg.name,
        labels=dict(msg.labels),
        versions=tuple(
            m.SealedVersion(v.version, v.sealed, ts_from_pb(v.created_at)) for v in msg.versions
        ),
    )


def secret_from_pb(msg: pb.SealedObject) -> m.Secret:
    return _sealed_from_pb(m.Secret, msg)


def config_from_pb(msg: pb.SealedObject) -> m.Config:
    return _sealed_from_pb(m.Config, msg)


def data_info_to_pb(info: m.DataInfo) -> cpb.DataInfo:
    return cpb.DataInfo(
        kind=cpb.DATA_KIND_CONFIG if info.config else cpb.DATA_KIND_SECRET,
        id=info.id,
        meta=meta_to_pb(info.meta),
        name=info.name,
        labels=info.labels,
        versions=info.versions,
        data=info.data,
    )


def data_info_from_pb(msg: cpb.DataInfo) -> m.DataInfo:
    return m.DataInfo(
        config=msg.kind == cpb.DATA_KIND_CONFIG,
        id=msg.id,
        meta=meta_from_pb(msg.meta),
        name=msg.name,
        labels=dict(msg.labels),
        versions=tuple(msg.versions),
        data=msg.data,
    )


def file_data_to_pb(f: m.FileData) -> dpb.FileData:
    return dpb.FileData(config=f.config, id=f.id, version=f.version, data=f.data)


def file_data_from_pb(msg: dpb.FileData) -> m.FileData:
    return m.FileData(config=msg.config, id=msg.id, version=msg.version, data=msg.data)
