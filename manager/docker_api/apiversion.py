"""API versions: this server speaks v1.41 (Docker 20.10's) and accepts paths of older clients
down to v1.24; a path without a version is the current one. Newer clients negotiate down through
/_ping's API-Version header."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from manager.docker_api.errors import docker_error

API_VERSION = "1.41"
MIN_API_VERSION = "1.24"

_PREFIX = re.compile(r"^/v([0-9]+)\.([0-9]+)(/.*)$")


def _parse(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


class VersionedPaths:
    """Strips /vX.Y from the path, and refuses a version this server does not speak (400)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = _PREFIX.match(scope["path"])
            if match:
                asked = (int(match[1]), int(match[2]))
                text = f"{asked[0]}.{asked[1]}"
                message = ""
                if asked > _parse(API_VERSION):
                    message = (
                        f"client version {text} is too new. Maximum supported API version is"
                        f" {API_VERSION}"
                    )
                elif asked < _parse(MIN_API_VERSION):
                    message = (
                        f"client version {text} is too old. Minimum supported API version is"
                        f" {MIN_API_VERSION}, please upgrade your client to a newer version"
                    )
                if message:
                    await docker_error(400, message)(scope, receive, send)
                    return
                path = match[3]
                # The prefix is ASCII: as long in the raw path as in the decoded one.
                cut = len(scope["path"]) - len(path)
                raw = scope.get("raw_path") or scope["path"].encode()
                scope = {**scope, "path": path, "raw_path": raw[cut:]}
        await self._app(scope, receive, send)
