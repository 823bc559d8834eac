"""Mounts: docker's `--mount` syntax, and what a mount must be for an engine to take it."""

from __future__ import annotations

import csv
import os
import re

from common.errors import InvalidArgument
from common.model import Mount, MountType

TYPES = {t.name.lower(): t for t in MountType}
# Docker's own name rule for volumes.
_VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
# Docker's options that Shoal does not carry (yet): refused by name rather than as unknown.
_UNSUPPORTED = {
    "consistency",
    "bind-propagation",
    "bind-nonrecursive",
    "volume-nocopy",
    "volume-label",
    "volume-driver",
    "volume-opt",
    "tmpfs-size",
    "tmpfs-mode",
}
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse(text: str) -> Mount:
    """`type=bind,source=/srv,target=/data,readonly`: docker's CSV of key=value fields, with
    src, dst/destination and ro as aliases; type defaults to volume."""
    try:
        fields = next(csv.reader([text]), [])
    except csv.Error as exc:
        raise InvalidArgument(f"invalid mount {text!r}: {exc}") from None
    kind, source, target, read_only = MountType.VOLUME, "", "", False
    for entry in fields:
        key, has_value, value = entry.partition("=")
        if key in ("readonly", "ro"):
            read_only = _bool(key, value) if has_value else True
        elif not has_value:
            raise InvalidArgument(f"invalid field {entry!r}: must be a key=value pair")
        elif key == "type":
            if value.lower() not in TYPES:
                raise InvalidArgument(f"invalid mount type {value!r}: expected {', '.join(TYPES)}")
            kind = TYPES[value.lower()]
        elif key in ("source", "src"):
            # As docker does: a path relative to here means the host path it names.
            source = os.path.abspath(value) if value == "." or value.startswith("./") else value
        elif key in ("target", "dst", "destination"):
            target = value
        elif key in _UNSUPPORTED:
            raise InvalidArgument(f"mount option {key!r} is not supported")
        else:
            raise InvalidArgument(f"unexpected key {key!r} in {entry!r}")
    if not target:
        raise InvalidArgument(f"invalid mount {text!r}: target is required")
    mount = Mount(type=kind, target=target, source=source, read_only=read_only)
    check(mount)
    return mount


def _bool(key: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidArgument(f"invalid value for {key}: {value}")


def check(mount: Mount) -> None:
    """What the engine would refuse at container creation, refused before anything is stored."""
    if not mount.target.startswith("/"):
        raise InvalidArgument(f"invalid mount target {mount.target!r}: must be an absolute path")
    if mount.type is MountType.BIND and not mount.source.startswith("/"):
        raise InvalidArgument(
            f"invalid bind mount source {mount.source!r}: must be an absolute path on the host"
        )
    if mount.type is MountType.TMPFS and mount.source:
        raise InvalidArgument(f"invalid tmpfs mount on {mount.target}: a tmpfs takes no source")
    if mount.type is MountType.VOLUME and mount.source and not _VOLUME_NAME.match(mount.source):
        raise InvalidArgument(
            f"invalid volume name {mount.source!r}: use letters, digits, '_', '.' or '-',"
            " starting with a letter or digit"
        )


def check_all(mounts: tuple[Mount, ...]) -> None:
    targets: set[str] = set()
    for mount in mounts:
        check(mount)
        if mount.target in targets:
            raise InvalidArgument(f"duplicate mount point {mount.target}")
        targets.add(mount.target)
