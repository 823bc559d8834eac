"""docker's ContainerSpec.Secrets and .Configs <-> FileReference: {SecretID, SecretName,
File: {Name, UID, GID, Mode}} (ConfigID/ConfigName for a config). docker's UID and GID are
strings, its Mode a number; a config's relative File.Name is a file at the root, as docker
puts it."""

from __future__ import annotations

import posixpath
from typing import Any, Literal

from common.errors import InvalidArgument
from common.model import FileReference
from manager.docker_api.shapes.fields import Fields
from manager.sealed import SECRETS_DIR

Kind = Literal["Secret", "Config"]


def references_from_json(container: Fields, kind: Kind) -> tuple[FileReference, ...]:
    return tuple(_reference(r, kind) for r in container.objs(f"{kind}s"))


def _reference(r: Fields, kind: Kind) -> FileReference:
    name = r.text(f"{kind}Name")
    ref_id = r.text(f"{kind}ID")
    if not (name or ref_id):
        raise InvalidArgument(f"invalid field {r.path}: {kind}Name or {kind}ID is required")
    if kind == "Config":
        # A config's credential spec use (Runtime), which Shoal does not support, needs no File.
        r.obj("Runtime").done()
    file = r.obj("File")
    target = file.text("Name")
    if kind == "Config" and target and not target.startswith("/"):
        target = f"/{target}"
    if kind == "Secret" and posixpath.dirname(target) == SECRETS_DIR:
        target = posixpath.basename(target)
    reference = FileReference(
        name=name,
        id=ref_id,
        target=target,
        uid=_owner(file, "UID"),
        gid=_owner(file, "GID"),
        mode=file.integer("Mode", 0o444),
    )
    file.done()
    r.done()
    return reference


def _owner(file: Fields, key: str) -> int:
    raw = file.text(key, "0")
    if not raw.isdigit() or not raw.isascii():
        raise InvalidArgument(f"invalid field {file.path}.{key}: expected a numeric ID")
    return int(raw)


def references_to_json(refs: tuple[FileReference, ...], kind: Kind) -> list[dict[str, Any]]:
    out = []
    for ref in refs:
        item: dict[str, Any] = {
            f"{kind}ID": ref.id,
            f"{kind}Name": ref.name,
            "File": {
                "Name": ref.target or ref.name,
                "UID": str(ref.uid),
                "GID": str(ref.gid),
                "Mode": ref.mode,
            },
        }
        out.append(item)
    return out
