"""What an image's tag names in its registry now (docker's /distribution/{name}/json), asked of
this node's engine: the Docker API a manager serves answers with it."""

from __future__ import annotations

from typing import Any

import docker
import docker.errors

from agent.engine_client import EngineClient
from common.errors import NotFound
from common.model import RegistryAuth


def _auth_config(auth: RegistryAuth | None) -> dict[str, str]:
    """docker-py's auth_config; empty (though given) sends an empty header, where None would
    have it read this host's own docker configuration."""
    if auth is None:
        return {}
    return {
        "username": auth.username,
        "password": auth.password,
        "serveraddress": auth.server_address,
        "identitytoken": auth.identity_token,
    }


class EngineDistribution:
    def __init__(self, engine: EngineClient) -> None:
        self._engine = engine

    async def inspect(self, name: str, auth: RegistryAuth | None) -> dict[str, Any]:
        """The engine's answer (Descriptor, Platforms) with only the caller's credentials; its
        refusal as a ShoalError."""
        config = _auth_config(auth)

        def ask(api: docker.APIClient) -> dict[str, Any]:
            # An image only built on this engine, never pushed or pulled, is in no registry:
            # asking one would only wait for a refusal (as `shoal service create` skips it).
            try:
                local = api.inspect_image(name)  # type: ignore[no-untyped-call]
            except docker.errors.NotFound:
                local = None
            if local is not None and not local.get("RepoDigests"):
                raise NotFound(f"image {name} is in no registry: it was built on this engine")
            found: dict[str, Any] = api.inspect_distribution(  # type: ignore[no-untyped-call]
                name, auth_config=config
            )
            return found

        return await self._engine.call(ask)
