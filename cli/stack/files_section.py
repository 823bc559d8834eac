"""A stack's top-level secrets and configs as the objects it creates (or uses, when external),
and its services' `secrets` and `configs` as references to them."""

from __future__ import annotations

from typing import Any

from cli.files import read_file
from cli.stack import fields
from cli.stack.fields import Reader
from cli.stack.model import NAMESPACE_LABEL, StackFile, scoped
from common.errors import InvalidArgument
from common.model import FileReference

SECRETS_DIR = "/run/secrets/"


def objects(section: Any, group: str, stack_name: str, reader: Reader) -> dict[str, StackFile]:
    """The top-level secrets (group "secrets") or configs, keyed "GROUP.KEY"; a `file:` is read
    now, so that one that cannot be read is refused before anything is created."""
    found = {}
    for key, body in fields.mapping(section, group).items():
        path = f"{group}.{key}"
        entry = reader.keys(
            fields.mapping(body or {}, path), path, ("name", "file", "external", "labels")
        )
        external = fields.flag(entry.get("external", False), f"{path}.external")
        data = None
        if not external:
            if "file" not in entry:
                raise InvalidArgument(f"{path}: needs a file, or external: true")
            data = _read(fields.text(entry["file"], f"{path}.file"), f"{path}.file", group)
        default_name = key if external else scoped(stack_name, key)
        found[f"{group}.{key}"] = StackFile(
            key=key,
            name=fields.text(entry.get("name", default_name), f"{path}.name"),
            config=group == "configs",
            data=data,
            labels={
                **fields.labels(entry.get("labels", {}), f"{path}.labels"),
                NAMESPACE_LABEL: stack_name,
            },
        )
    return found


def _read(file: str, path: str, group: str) -> bytes:
    try:
        return read_file(file, config=group == "configs")
    except InvalidArgument as exc:
        raise InvalidArgument(f"{path}: {exc}") from None


def references(
    section: Any, path: str, files: dict[str, StackFile], reader: Reader
) -> tuple[FileReference, ...]:
    """A service's secrets (path ...secrets) or configs as references to the cluster's objects;
    the default target is the file's key: /run/secrets/KEY for a secret, /KEY for a config."""
    group = path.rsplit(".", 1)[-1]
    refs = []
    for index, item in enumerate(fields.items(section, path)):
        where = f"{path}[{index}]"
        entry = reader.keys(
            fields.mapping(item, where), where, ("source", "target", "uid", "gid", "mode")
        )
        key = fields.text(entry.get("source", ""), f"{where}.source")
        found = files.get(f"{group}.{key}")
        if found is None:
            raise InvalidArgument(f"{path}: undefined {group[:-1]} {key}")
        target = fields.text(entry.get("target", ""), f"{where}.target")
        if not found.config:
            # Shoal names a secret's file under /run/secrets, as `--secret target=` does.
            target = target.removeprefix(SECRETS_DIR)
        target = target or (f"/{key}" if found.config else key)
        refs.append(
            FileReference(
                name=found.name,
                target=target,
                uid=fields.count(entry.get("uid", 0), f"{where}.uid"),
                gid=fields.count(entry.get("gid", 0), f"{where}.gid"),
                mode=_mode(entry.get("mode", "0444"), f"{where}.mode"),
            )
        )
    return tuple(refs)


def _mode(value: Any, path: str) -> int:
    # Compose writes a file mode as its octal digits ("0440").
    written = fields.text(value, path)
    try:
        return int(written, 8)
    except ValueError:
        raise InvalidArgument(f"{path}: {written!r} is not an octal file mode") from None
