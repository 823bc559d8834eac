"""`--mount` on `service create`; `--mount-add` and `--mount-rm TARGET` on `service update`."""

from __future__ import annotations

import argparse

from common import mounts
from common.errors import InvalidArgument, ShoalError
from common.model import Mount


def _mount(text: str) -> Mount:
    try:
        return mounts.parse(text)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add(parser: argparse.ArgumentParser, *, update: bool) -> None:
    syntax = "type=bind|volume|tmpfs,source=SRC,target=DST[,readonly]"
    if update:
        parser.add_argument(
            "--mount-add",
            action="append",
            type=_mount,
            default=[],
            metavar="MOUNT",
            help=f"Add or replace a mount: {syntax}",
        )
        parser.add_argument(
            "--mount-rm",
            action="append",
            default=[],
            metavar="TARGET",
            help="Remove the mount on TARGET",
        )
    else:
        parser.add_argument(
            "--mount",
            action="append",
            type=_mount,
            default=[],
            metavar="MOUNT",
            help=f"Attach a filesystem mount: {syntax}",
        )


def apply(current: tuple[Mount, ...], args: argparse.Namespace) -> tuple[Mount, ...]:
    """Removals first, then additions; an added mount replaces the one on its target."""
    by_target = {m.target: m for m in current}
    for target in getattr(args, "mount_rm", []):
        if by_target.pop(target, None) is None:
            raise InvalidArgument(f"no mount on {target} in the service")
    for mount in getattr(args, "mount", []):
        if mount.target in by_target:
            raise InvalidArgument(f"duplicate mount point {mount.target}")
        by_target[mount.target] = mount
    for mount in getattr(args, "mount_add", []):
        by_target[mount.target] = mount
    return tuple(by_target.values())


def document(given: tuple[Mount, ...]) -> list[dict[str, object]]:
    """As `docker service inspect` shows them."""
    return [
        {
            "Type": m.type.name.lower(),
            "Source": m.source,
            "Target": m.target,
            "ReadOnly": m.read_only,
        }
        for m in given
    ]
