"""`--secret` and `--config` on `service create`, and their `-add`/`-rm` forms on `service
update`: docker's short form (a name) and long form (source=NAME,target=T,uid=U,gid=G,
mode=0400)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from common.errors import InvalidArgument
from common.model import ContainerSpec, FileReference

_KEYS = {
    "source": "name",
    "src": "name",
    "target": "target",
    "uid": "uid",
    "gid": "gid",
    "mode": "mode",
}


def parse(text: str) -> FileReference:
    """A reference as a client gives it: the manager fills in the ID, the version and, when
    left out, the target (`/run/secrets/NAME` for a secret, `/NAME` for a config)."""
    if "=" not in text:
        if not text:
            raise argparse.ArgumentTypeError("a secret or config name is needed")
        return FileReference(name=text, target="")
    given: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        field = _KEYS.get(key.strip().lower())
        if not sep or field is None:
            raise argparse.ArgumentTypeError(
                f"invalid field {part!r}: expected one of {', '.join(sorted(_KEYS))}"
            )
        given[field] = value.strip()
    if not given.get("name"):
        raise argparse.ArgumentTypeError(f"invalid reference {text!r}: source is required")
    try:
        return FileReference(
            name=given["name"],
            target=given.get("target", ""),
            uid=int(given.get("uid", "0")),
            gid=int(given.get("gid", "0")),
            mode=int(given.get("mode", "0444"), 8),
        )
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid reference {text!r}: uid and gid are numbers, mode an octal number"
        ) from None


def add(parser: argparse.ArgumentParser, *, update: bool) -> None:
    for what in ("secret", "config"):
        syntax = "NAME or source=NAME,target=T,uid=U,gid=G,mode=0444"
        if update:
            parser.add_argument(
                f"--{what}-add",
                dest=f"file_{what}_add",
                action="append",
                type=parse,
                default=[],
                metavar=what.upper(),
                help=f"Add or replace a {what} on a service: {syntax}",
            )
            parser.add_argument(
                f"--{what}-rm",
                dest=f"file_{what}_rm",
                action="append",
                default=[],
                metavar=what.upper(),
                help=f"Remove a {what} (by name or ID)",
            )
        else:
            # Not dest "config": that is the global --config (the client bundle's directory).
            parser.add_argument(
                f"--{what}",
                dest=f"file_{what}",
                action="append",
                type=parse,
                default=[],
                metavar=what.upper(),
                help=f"Specify {what}s to expose to the service: {syntax}",
            )


def _apply(
    current: tuple[FileReference, ...], what: str, args: argparse.Namespace
) -> tuple[FileReference, ...]:
    refs = list(current)
    for ref in getattr(args, f"file_{what}_rm", []):
        kept = [r for r in refs if ref not in (r.name, r.id)]
        if len(kept) == len(refs):
            raise InvalidArgument(f"{what} {ref} is not used by the service")
        refs = kept
    for ref in [*getattr(args, f"file_{what}", []), *getattr(args, f"file_{what}_add", [])]:
        if not ref.target:
            ref = replace(ref, target=f"/{ref.name}" if what == "config" else ref.name)
        # A reference to the same target replaces the one there (at the current version).
        refs = [r for r in refs if r.target != ref.target]
        refs.append(ref)
    return tuple(refs)


def apply(container: ContainerSpec, args: argparse.Namespace) -> ContainerSpec:
    return replace(
        container,
        secrets=_apply(container.secrets, "secret", args),
        configs=_apply(container.configs, "config", args),
    )


def document(refs: tuple[FileReference, ...], config: bool) -> list[dict[str, object]]:
    """As `docker service inspect` shows them, with the version each uses."""
    key = "ConfigID" if config else "SecretID"
    name = "ConfigName" if config else "SecretName"
    return [
        {
            "File": {
                "Name": r.target,
                "UID": str(r.uid),
                "GID": str(r.gid),
                "Mode": r.mode,
            },
            key: r.id,
            name: r.name,
            "Version": r.version,
        }
        for r in refs
    ]
