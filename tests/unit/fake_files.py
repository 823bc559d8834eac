"""The secret and config calls of the Control contract in memory, for the CLI's fake manager."""

from __future__ import annotations

from dataclasses import replace

import grpc

from common import convert
from common import model as m
from common.api import control_pb2 as api
from common.ids import new_id


class FakeFiles:
    """Secrets and configs by name or ID; NOT_FOUND for unknown ones, ALREADY_EXISTS for a
    taken name; a secret's data never in an answer. Keeps what each was given."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, m.DataInfo] = {}

    def _find_data(self, kind: int, ref: str, context: grpc.ServicerContext) -> m.DataInfo:
        config = kind == api.DATA_KIND_CONFIG
        for info in self.files.values():
            if info.config == config and ref in (info.id, info.name):
                return info
        what = "config" if config else "secret"
        context.abort(grpc.StatusCode.NOT_FOUND, f"{what} not found: {ref}")
        raise AssertionError("abort returns only by raising")

    @staticmethod
    def _shown(info: m.DataInfo) -> api.DataInfo:
        return convert.data_info_to_pb(info if info.config else replace(info, data=b""))

    def CreateData(
        self, request: api.CreateDataRequest, context: grpc.ServicerContext
    ) -> api.DataResponse:
        config = request.kind == api.DATA_KIND_CONFIG
        if any(i.config == config and i.name == request.name for i in self.files.values()):
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"{request.name} already exists")
        info = m.DataInfo(
            config=config,
            id=new_id(),
            name=request.name,
            versions=(1,),
            meta=m.Meta(version=1, created_at=m.now(), updated_at=m.now()),
            labels=dict(request.labels),
            data=request.data,
        )
        self.files[info.id] = info
        return api.DataResponse(info=self._shown(info))

    def GetData(
        self, request: api.GetDataRequest, context: grpc.ServicerContext
    ) -> api.DataResponse:
        info = self._find_data(request.kind, request.ref, context)
        return api.DataResponse(info=self._shown(info))

    def ListData(
        self, request: api.ListDataRequest, context: grpc.ServicerContext
    ) -> api.ListDataResponse:
        config = request.kind == api.DATA_KIND_CONFIG
        listed = sorted(
            (i for i in self.files.values() if i.config == config), key=lambda i: i.name
        )
        return api.ListDataResponse(items=[self._shown(replace(i, data=b"")) for i in listed])

    def RemoveData(
        self, request: api.RemoveDataRequest, context: grpc.ServicerContext
    ) -> api.RemoveDataResponse:
        info = self._find_data(request.kind, request.ref, context)
        del self.files[info.id]
        return api.RemoveDataResponse(id=info.id)

    def UpdateDataLabels(
        self, request: api.UpdateDataLabelsRequest, context: grpc.ServicerContext
    ) -> api.DataResponse:
        info = self._find_data(request.kind, request.ref, context)
        if info.meta.version != request.version:
            context.abort(grpc.StatusCode.ABORTED, f"{info.name} was changed meanwhile")
        if request.HasField("data") and request.data != info.data:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "only updates to Labels are allowed")
        meta = replace(info.meta, version=info.meta.version + 1, updated_at=m.now())
        updated = replace(info, labels=dict(request.labels), meta=meta)
        self.files[info.id] = updated
        return api.DataResponse(info=self._shown(updated))

    def RotateData(
        self, request: api.RotateDataRequest, context: grpc.ServicerContext
    ) -> api.RotateDataResponse:
        info = self._find_data(request.kind, request.ref, context)
        if request.if_changed and info.data == request.data:
            return api.RotateDataResponse(info=self._shown(replace(info, data=b"")))
        rotated = replace(info, versions=(*info.versions, info.versions[-1] + 1), data=request.data)
        self.files[info.id] = rotated
        return api.RotateDataResponse(info=self._shown(replace(rotated, data=b"")))
