"""The Control API's calls on secrets and configs, and the references service specs make to
them (resolved inside store plans). A secret's data never leaves in an answer; a config's
does, as docker's `config inspect` shows it."""

from __future__ import annotations

import hmac
import posixpath
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from common import convert
from common.api import control_pb2 as pb
from common.errors import Conflict, InvalidArgument, NotFound, StaleVersion
from common.grpc_errors import unary_errors
from common.ids import new_id
from common.limits import MAX_NAME, check_labels, check_text
from common.model import (
    Config,
    DataInfo,
    FileReference,
    SealedObject,
    Secret,
    Service,
    UpdateState,
    UpdateStatus,
    now,
)
from common.names import check_name
from manager import sealed
from manager.control.base import ControlBase
from manager.control.resolve import resolve_sealed
from manager.data_key import DataKey
from manager.store import Delete, Op, Put, ReadView

# docker's refusal of a change to more than the labels, which its clients show as it is.
LABELS_ONLY = "only updates to Labels are allowed"


def resolved(view: ReadView, service: Service) -> Service:
    """service with every secret and config reference checked and naming its object's ID and a
    version: a reference without one gets the current version."""
    spec = service.spec
    for kind in (Secret, Config):
        refs: list[FileReference] = []
        points: set[str] = set()
        for ref in sealed.references(spec.container, kind):
            obj = resolve_sealed(view, kind is Config, ref.id or ref.name)
            version = ref.version or obj.current.version
            if obj.sealed_for(version) is None:
                raise NotFound(f"{sealed.kind_name(kind)} {obj.name} has no version {version}")
            if ref.mode > 0o777:
                raise InvalidArgument(f"invalid file mode {ref.mode:o} for {obj.name}")
            target = sealed.checked_target(kind, replace(ref, name=obj.name))
            point = posixpath.normpath(sealed.mount_point(kind, target))
            if point in points:
                raise InvalidArgument(f"{sealed.kind_name(kind)} target {point} is used twice")
            points.add(point)
            refs.append(replace(ref, id=obj.id, name=obj.name, version=version, target=target))
        spec = sealed.with_references(spec, kind, refs)
    return replace(service, spec=spec)


def rolled_to(service: Service, obj: SealedObject, version: int) -> Service:
    """service rolling its tasks to version of obj, as `service update` would."""
    kind = type(obj)
    refs = [
        replace(r, version=version) if r.id == obj.id else r
        for r in sealed.references(service.spec.container, kind)
    ]
    spec = sealed.with_references(service.spec, kind, refs)
    if spec.mode.is_job:
        # A job runs again with the new version (the orchestrator's doing): no rolling.
        return replace(service, spec=spec, previous_spec=service.spec)
    status = UpdateStatus(UpdateState.UPDATING, now(), message="update in progress")
    return replace(service, spec=spec, previous_spec=service.spec, update_status=status)


def _info(obj: SealedObject, key: DataKey) -> DataInfo:
    config = isinstance(obj, Config)
    return DataInfo(
        config=config,
        id=obj.id,
        name=obj.name,
        versions=tuple(v.version for v in obj.versions),
        meta=obj.meta,
        labels=obj.labels,
        data=sealed.open_version(key, obj, obj.current) if config else b"",
    )


class FileCalls(ControlBase):
    _data_key: DataKey

    def _answer(self, obj: SealedObject) -> pb.DataResponse:
        return pb.DataResponse(info=convert.data_info_to_pb(_info(obj, self._data_key)))

    @unary_errors
    async def CreateData(self, request: pb.CreateDataRequest, context: Any) -> pb.DataResponse:
        kind = _kind(request.kind)
        what = sealed.kind_name(kind)
        check_text(f"{what} name", request.name, MAX_NAME)
        check_name(what, request.name)
        labels = dict(request.labels)
        check_labels(f"{what} label", labels)
        sealed.check_size(kind, request.data)
        obj_id = new_id()
        first = sealed.sealed_version(self._data_key, kind, obj_id, 1, request.data)
        obj = kind(id=obj_id, name=request.name, versions=(first,), labels=labels)

        def plan(view: ReadView) -> Sequence[Op]:
            if any(o.name == request.name for o in sealed.objects(view, kind)):
                raise Conflict(f"{what} {request.name} already exists")
            return [Put(obj)]

        stored = await self._write_one(plan, f"{what} created", name=request.name)
        assert isinstance(stored, Secret | Config)
        return self._answer(stored)

    @unary_errors
    async def GetData(self, request: pb.GetDataRequest, context: Any) -> pb.DataResponse:
        config = _kind(request.kind) is Config
        return self._answer(resolve_sealed(self._store, config, request.ref))

    @unary_errors
    async def ListData(self, request: pb.ListDataRequest, context: Any) -> pb.ListDataResponse:
        kind = _kind(request.kind)
        found: list[SealedObject] = list(sealed.objects(self._store, kind))
        items = [
            convert.data_info_to_pb(replace(_info(o, self._data_key), data=b""))
            for o in sorted(found, key=lambda o: o.name)
        ]
        return pb.ListDataResponse(items=items)

    @unary_errors
    async def RemoveData(
        self, request: pb.RemoveDataRequest, context: Any
    ) -> pb.RemoveDataResponse:
        config = _kind(request.kind) is Config

        def plan(view: ReadView) -> Sequence[Op]:
            obj = resolve_sealed(view, config, request.ref)
            users = sealed.users(view, obj)
            if users:
                what = sealed.kind_name(type(obj))
                plural = "s" if len(users) > 1 else ""
                raise Conflict(
                    f"{what} '{obj.name}' is in use by the following service{plural}:"
                    f" {', '.join(users)}"
                )
            return [Delete(obj)]

        removed = await self._write_one(plan, f"{'config' if config else 'secret'} removed")
        return pb.RemoveDataResponse(id=removed.id)

    @unary_errors
    async def UpdateDataLabels(
        self, request: pb.UpdateDataLabelsRequest, context: Any
    ) -> pb.DataResponse:
        config = _kind(request.kind) is Config
        labels = dict(request.labels)

        def plan(view: ReadView) -> Sequence[Op]:
            obj = resolve_sealed(view, config, request.ref)
            what = sealed.kind_name(type(obj))
            check_labels(f"{what} label", labels)
            if obj.meta.version != request.version:
                raise StaleVersion(f"{what} {obj.name} was changed meanwhile; read it and retry")
            if request.HasField("data"):
                current = sealed.open_version(self._data_key, obj, obj.current)
                if not hmac.compare_digest(current, request.data):
                    raise InvalidArgument(f"{LABELS_ONLY}: the data cannot change")
            return [Put(replace(obj, labels=labels))]

        stored = await self._write_one(plan, "labels updated")
        assert isinstance(stored, Secret | Config)
        return self._answer(stored)

    @unary_errors
    async def RotateData(
        self, request: pb.RotateDataRequest, context: Any
    ) -> pb.RotateDataResponse:
        kind = _kind(request.kind)
        sealed.check_size(kind, request.data)
        rolled: list[str] = []
        kept: list[SealedObject] = []

        def plan(view: ReadView) -> Sequence[Op]:
            obj = resolve_sealed(view, kind is Config, request.ref)
            kept.clear()
            if request.if_changed:
                current = sealed.open_version(self._data_key, obj, obj.current)
                if hmac.compare_digest(current, request.data):
                    kept.append(obj)
                    return []
            number = obj.current.version + 1
            version = sealed.sealed_version(self._data_key, kind, obj.id, number, request.data)
            ops: list[Op] = [Put(replace(obj, versions=(*obj.versions, version)))]
            rolled.clear()
            for service in sorted(view.objects(Service), key=lambda s: s.spec.name):
                refs = sealed.references(service.spec.container, kind)
                if any(r.id == obj.id for r in refs):
                    if service.update_status.state.active:
                        raise Conflict(
                            f"service {service.spec.name} is being updated; wait for it to"
                            " finish, then rotate"
                        )
                    ops.append(Put(rolled_to(service, obj, number)))
                    rolled.append(service.spec.name)
            return ops

        written = await self._store.transact(plan, urgent=True)
        stored = kept[0] if kept else written[0]
        assert isinstance(stored, Secret | Config)
        return pb.RotateDataResponse(
            info=convert.data_info_to_pb(replace(_info(stored, self._data_key), data=b"")),
            services=rolled,
        )


def _kind(value: int) -> type[Secret] | type[Config]:
    if value == pb.DATA_KIND_SECRET:
        return Secret
    if value == pb.DATA_KIND_CONFIG:
        return Config
    raise InvalidArgument(f"invalid kind {value}: expected secret or config")
