"""docker's Secret and Config objects and their specs. A secret's data never goes out; a
config's goes out base64 in Spec.Data, as docker shows it."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidArgument
from common.model import DataInfo
from manager.docker_api.shapes.fields import Fields
from manager.docker_api.shapes.objects import meta_to_json


@dataclass(frozen=True)
class DataSpec:
    name: str
    labels: dict[str, str]
    # None: the body had no Data.
    data: bytes | None


def data_spec_from_json(body: Any) -> DataSpec:
    spec = Fields(body, "")
    name = spec.text("Name")
    labels = spec.labels("Labels")
    data = None
    if spec.has("Data"):
        encoded = spec.text("Data")
        try:
            data = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise InvalidArgument("invalid field Data: expected base64") from None
    # docker's defaults: the manager's own store, no templating.
    driver = spec.obj("Driver")
    driver.allow("Name", "")
    driver.done()
    templating = spec.obj("Templating")
    templating.allow("Name", "")
    templating.done()
    spec.done()
    return DataSpec(name=name, labels=labels, data=data)


def data_to_json(info: DataInfo) -> dict[str, Any]:
    spec: dict[str, Any] = {"Name": info.name, "Labels": info.labels}
    if info.config:
        spec["Data"] = base64.b64encode(info.data).decode()
    return meta_to_json(info.id, info.meta) | {"Spec": spec}
