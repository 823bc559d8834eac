"""TaskTemplate.Placement.Platforms: the platforms the image is built for, which docker's CLI
adds to every spec whose image it resolved in a registry. Shoal places no task by platform, so
the field is taken only where that changes nothing: every node of the cluster runs one of them.
Otherwise it is refused by name, as any field Shoal would not apply."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from common.errors import InvalidArgument
from common.model import Node
from manager.docker_api.shapes.fields import Fields

FIELD = "TaskTemplate.Placement.Platforms"
# The engine's `uname -m` names (a node's description) as image platforms name them.
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386"}


def take_platforms(body: Any) -> tuple[tuple[str, str], ...]:
    """(os, architecture) of each platform, removed from body (docker's JSON spelling)."""
    if not isinstance(body, dict):
        return ()
    placement = (body.get("TaskTemplate") or {}).get("Placement")
    if not isinstance(placement, dict):
        return ()
    raw = placement.pop("Platforms", None)
    found = []
    for index, item in enumerate(Fields({"Platforms": raw}, "").items("Platforms")):
        platform = Fields(item, f"{FIELD}[{index}]")
        found.append((platform.text("OS"), platform.text("Architecture")))
        platform.done()
    return tuple(found)


def check_platforms(platforms: tuple[tuple[str, str], ...], nodes: Iterable[Node]) -> None:
    if not platforms:
        return
    for node in nodes:
        os, arch = node.description.os, _ARCH.get(node.description.arch, node.description.arch)
        if not os or not arch:
            continue
        if not any((not p_os or p_os == os) and (not p_arch or p_arch == arch)
                   for p_os, p_arch in platforms):  # fmt: skip
            raise InvalidArgument(
                f"unsupported field {FIELD}: Shoal does not place tasks by platform, and node"
                f" {node.description.hostname} ({os}/{arch}) runs none of the image's"
            )
